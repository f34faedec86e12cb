"""JSON views of sim records in Nova's shapes, per microversion."""
