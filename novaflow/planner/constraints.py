"""Per instance: can it live-migrate, cold-migrate or be evacuated, and if not, why not.

The rules follow Nova's own checks so that a plan never proposes an action Nova would
refuse, and every refusal reads as a sentence an operator can act on:

* live migration needs vm_state ACTIVE or PAUSED and no task in progress;
* cold migration (and resize) needs ACTIVE or SHUTOFF and no task in progress;
* evacuation needs ACTIVE, SHUTOFF (stopped) or ERROR, no task in progress, and the source
  host down; an instance stuck in a task or in PAUSED / SUSPENDED after a crash can be
  evacuated once an operator resets its state, so evacuation plans it with a marker.

Device and topology markers (a small documented list, because the snapshot carries no
per-host device inventory):

* PCI passthrough: flavor extra spec ``pci_passthrough:alias``; Cyborg accelerators:
  ``accel:device_profile``. No live migration. Cold migration and evacuation need a host
  with the same device, which only Nova's PCI filter knows: the target is left to Nova.
* SR-IOV: instance metadata ``novaflow-sim:sriov`` / ``novaflow:sriov`` = ``"true"``, or a
  vnic hint ``vnic_type`` / ``novaflow:vnic_type`` / ``novaflow-sim:vnic_type`` naming a
  passthrough vnic type (``direct``, ``direct-physical``, ``vdpa``, ...). No live migration
  (the target needs free matching VFs, which novaflow cannot see).
* vTPM: flavor extra spec ``hw:tpm_version`` or ``hw:tpm_model``. No live migration, no
  evacuation (the TPM state lives on the source host); cold migration works.
* CPU pinning / NUMA: ``hw:cpu_policy=dedicated|mixed``, ``hw:numa_nodes``,
  ``hw:mem_page_size``. No live migration only when the cloud lacks NUMA-aware live
  migration (``snapshot.features.numa_live_migration`` is False, Nova before Train).
* Local disk (not boot-from-volume, root or ephemeral disk > 0): live migration copies it
  (block migration, ``block_migration=auto``); allowed, but noted because it is slower.
* Config drive: a ``vfat`` config drive (instance metadata ``config_drive_format`` /
  ``novaflow:config_drive_format`` / ``novaflow-sim:config_drive_format`` = ``vfat``)
  cannot be live-migrated without shared instance storage; an iso9660 drive is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from novaflow.models import CloudFeatures, Instance, Method, MethodPolicy

LIVE_STATUSES = frozenset({"ACTIVE", "PAUSED"})
"""Nova's live migration accepts vm_state active or paused."""
COLD_STATUSES = frozenset({"ACTIVE", "SHUTOFF"})
"""Nova's cold migration / resize accepts vm_state active or stopped (status SHUTOFF)."""
EVACUATE_STATUSES = frozenset({"ACTIVE", "SHUTOFF", "STOPPED", "ERROR"})
"""Nova's evacuate accepts vm_state active, stopped or error."""
RESETTABLE_FOR_EVACUATION = frozenset(
    {
        "PAUSED",
        "SUSPENDED",
        "MIGRATING",
        "RESIZE",
        "REBOOT",
        "HARD_REBOOT",
        "REBUILD",
        "PASSWORD",
        "RESCUE",
    }
)
"""States an instance can be stuck in after its host died; a state reset makes it evacuable."""

PCI_SPECS = ("pci_passthrough:alias", "accel:device_profile")
TPM_SPECS = ("hw:tpm_version", "hw:tpm_model")
SRIOV_FLAG_KEYS = ("novaflow-sim:sriov", "novaflow:sriov")
VNIC_KEYS = ("vnic_type", "novaflow:vnic_type", "novaflow-sim:vnic_type")
PASSTHROUGH_VNIC_TYPES = frozenset(
    {"direct", "direct-physical", "vdpa", "accelerator-direct", "accelerator-direct-physical"}
)
CONFIG_DRIVE_FORMAT_KEYS = (
    "config_drive_format",
    "novaflow:config_drive_format",
    "novaflow-sim:config_drive_format",
)


@dataclass(frozen=True, slots=True)
class Choice:
    """How an instance can leave a running host, and the one-line why."""

    method: Method
    fallback: Method | None
    why: str
    scheduler_picks: bool = False
    """The target needs devices novaflow cannot see (PCI): let Nova's scheduler choose."""


@dataclass(frozen=True, slots=True)
class Evacuation:
    """An instance that can be rebuilt elsewhere, what it keeps or loses, and preconditions."""

    why: str
    needs_state_reset: bool = False
    loses_local_disk: bool = False
    scheduler_picks: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """An instance that stays: why (Nova's rule, in words) and what the operator can do."""

    reason: str
    remedy: str


@dataclass(frozen=True, slots=True)
class Mobility:
    """The facts behind method choice: why live / cold are impossible (None = possible)."""

    live: str | None
    cold: str | None
    notes: tuple[str, ...]
    status_remedy: str | None
    """Set when the instance's state (not its devices) blocks every migration."""
    pci: bool
    vtpm: bool


def _spec(inst: Instance, keys: tuple[str, ...]) -> str | None:
    specs = inst.flavor.extra_specs
    if not specs:
        return None
    for key in keys:
        if specs.get(key):
            return key
    return None


def has_pci(inst: Instance) -> bool:
    return _spec(inst, PCI_SPECS) is not None


def has_vtpm(inst: Instance) -> bool:
    return _spec(inst, TPM_SPECS) is not None


def has_sriov(inst: Instance) -> bool:
    md = inst.metadata
    if not md:
        return False
    if any(md.get(k, "").strip().lower() == "true" for k in SRIOV_FLAG_KEYS):
        return True
    return any(md.get(k, "").strip().lower() in PASSTHROUGH_VNIC_TYPES for k in VNIC_KEYS)


def numa_bound(inst: Instance) -> bool:
    specs = inst.flavor.extra_specs
    if not specs:
        return False
    return (
        specs.get("hw:cpu_policy", "").lower() in ("dedicated", "mixed")
        or bool(specs.get("hw:numa_nodes"))
        or bool(specs.get("hw:mem_page_size"))
    )


def vfat_config_drive(inst: Instance) -> bool:
    if not inst.config_drive:
        return False
    return any(inst.metadata.get(k, "").lower() == "vfat" for k in CONFIG_DRIVE_FORMAT_KEYS)


def local_disk_gb(inst: Instance) -> int:
    """GiB of disk on the hypervisor's local storage (root unless boot-from-volume, ephemeral)."""
    f = inst.flavor
    return f.ephemeral_gb + (0 if inst.boot_from_volume else f.disk_gb)


def _status_block(inst: Instance) -> tuple[str, str] | None:
    """A state that rules out both live and cold migration: (reason, remedy)."""
    status = inst.status.upper()
    ref = inst.id
    if inst.task_state:
        return (
            f"task '{inst.task_state}' in progress (Nova migrates only instances with no task)",
            f"wait for it to finish and re-plan; if it is stuck, reset it with "
            f"`openstack server set --state active {ref}` after checking it",
        )
    if status == "ERROR":
        return (
            "status ERROR: Nova migrates only ACTIVE/PAUSED (live) or ACTIVE/SHUTOFF (cold)",
            f"reset its state with `openstack server set --state active {ref}` "
            "after checking it, then re-plan",
        )
    if status == "VERIFY_RESIZE":
        return (
            "a resize or cold migration is waiting to be confirmed",
            f"confirm it with `openstack server resize confirm {ref}` (or revert), then re-plan",
        )
    if status in ("SHELVED", "SHELVED_OFFLOADED"):
        return (
            "shelved: Nova does not migrate shelved instances",
            f"`openstack server shelve offload {ref}` frees the host without a migration",
        )
    if status == "SUSPENDED":
        return (
            "suspended: live migration needs ACTIVE/PAUSED, cold migration ACTIVE/SHUTOFF",
            f"resume it (`openstack server resume {ref}`) or stop it, then re-plan",
        )
    if status == "RESCUE":
        return (
            "in rescue mode: Nova does not migrate rescued instances",
            f"unrescue it (`openstack server unrescue {ref}`), then re-plan",
        )
    if status not in LIVE_STATUSES | COLD_STATUSES:
        return (
            f"status {status}: Nova migrates only ACTIVE, PAUSED or SHUTOFF instances",
            "wait until it is ACTIVE or SHUTOFF, then re-plan",
        )
    return None


def mobility(inst: Instance, features: CloudFeatures) -> Mobility:
    """Why live and cold migration are (im)possible for this instance, plus notes."""
    notes: list[str] = []
    pci = has_pci(inst)
    vtpm = has_vtpm(inst)
    blocked = _status_block(inst)
    if blocked:
        return Mobility(blocked[0], blocked[0], (), blocked[1], pci, vtpm)
    status = inst.status.upper()
    live: str | None = None
    cold: str | None = None
    if status not in LIVE_STATUSES:
        live = f"status {status}: live migration needs ACTIVE or PAUSED"
    elif pci:
        live = f"PCI passthrough ({_spec(inst, PCI_SPECS)}): Nova cannot live-migrate it"
    elif has_sriov(inst):
        live = "SR-IOV port: live migration needs matching free VFs novaflow cannot see"
    elif vtpm:
        live = "vTPM: Nova cannot live-migrate an instance with a virtual TPM"
    elif numa_bound(inst) and not features.numa_live_migration:
        live = "CPU pinning / NUMA topology: this cloud's Nova (before Train) cannot live-migrate"
    elif vfat_config_drive(inst):
        live = "vfat config drive: cannot live-migrate without shared instance storage"
    if status not in COLD_STATUSES:
        cold = f"status {status}: cold migration needs ACTIVE or SHUTOFF"
    disk = local_disk_gb(inst)
    if live is None and disk > 0:
        notes.append(f"block migration of {disk} GiB local disk")
    if inst.locked:
        notes.append("locked (admin moves it anyway)")
    return Mobility(live, cold, tuple(notes), None, pci, vtpm)


def _with_notes(text: str, notes: tuple[str, ...]) -> str:
    return f"{text} ({'; '.join(notes)})" if notes else text


def choose_method(
    inst: Instance, policy: MethodPolicy, features: CloudFeatures
) -> Choice | Refusal:
    """The method a drain or rebalance uses for `inst` under `policy`, or why none works."""
    mob = mobility(inst, features)
    if mob.status_remedy:
        return Refusal(mob.live or "", mob.status_remedy)
    status = inst.status.upper()
    pci = mob.pci
    if status == "SHUTOFF":
        # A stopped instance has no memory to copy: cold migration is the only way.
        return Choice(Method.COLD, None, _with_notes("stopped: cold migration", ()), pci)
    if policy is MethodPolicy.COLD:
        if mob.cold:
            return Refusal(
                mob.cold,
                f"unpause it (`openstack server unpause {inst.id}`) or run with policy live",
            )
        return Choice(Method.COLD, None, "cold migration (policy cold): it reboots", pci)
    if mob.live is None:
        fallback = Method.COLD if policy is MethodPolicy.LIVE_THEN_COLD and not mob.cold else None
        return Choice(Method.LIVE, fallback, _with_notes("live migration", mob.notes), pci)
    if policy is MethodPolicy.LIVE:
        return Refusal(mob.live, _live_remedy(inst, mob))
    if mob.cold:
        return Refusal(f"{mob.live}; {mob.cold}", _live_remedy(inst, mob))
    return Choice(Method.COLD, None, f"cold migration, it reboots: {mob.live}", pci)


def _live_remedy(inst: Instance, mob: Mobility) -> str:
    if inst.status.upper() == "PAUSED":
        return f"unpause it (`openstack server unpause {inst.id}`) so it can cold-migrate"
    if mob.pci:
        return "detach the PCI device, or stop it and cold-migrate (policy live-then-cold)"
    return "stop it and cold-migrate (policy live-then-cold or cold)"


def can_rebuild(inst: Instance, shared_storage: bool) -> bool:
    """Evacuation rebuilds the disk from a volume, shared storage or the image."""
    return inst.boot_from_volume or shared_storage or bool(inst.image_id)


def evacuation(inst: Instance, shared_storage: bool) -> Evacuation | Refusal:
    """Whether Nova can rebuild `inst` on another host after its host failed, and at what cost."""
    ref = inst.id
    status = inst.status.upper()
    if has_vtpm(inst):
        return Refusal(
            "vTPM: Nova refuses to evacuate an instance with a virtual TPM (its state is on the "
            "failed host)",
            "recover the host and start it there, or rebuild it from backups",
        )
    if status in ("SHELVED", "SHELVED_OFFLOADED"):
        return Refusal(
            "shelved: Nova does not evacuate shelved instances",
            f"unshelve it later (`openstack server unshelve {ref}`); Nova places it anew",
        )
    if status in ("BUILD", "DELETED", "SOFT_DELETED"):
        return Refusal(
            f"status {status}: nothing to evacuate yet",
            f"check it with `openstack server show {ref}`; delete or recreate it",
        )
    if not can_rebuild(inst, shared_storage):
        return Refusal(
            "no image and no boot volume: evacuation has nothing to rebuild it from",
            "restore it from a backup, or re-run with shared_storage if its disk is shared",
        )
    needs_reset = bool(inst.task_state) or status not in EVACUATE_STATUSES
    if needs_reset and not inst.task_state and status not in RESETTABLE_FOR_EVACUATION:
        return Refusal(
            f"status {status}: Nova evacuates only ACTIVE, SHUTOFF or ERROR instances",
            f"reset its state with `openstack server set --state error {ref}` after checking "
            "it, then re-plan",
        )
    parts: list[str] = []
    if needs_reset:
        stuck = f"task '{inst.task_state}'" if inst.task_state else f"status {status}"
        parts.append(
            f"stuck in {stuck} since the crash: the flow resets its state "
            "(`openstack server set --state active`) before evacuating"
        )
    elif status == "ERROR":
        parts.append("ERROR instance: Nova evacuates it (it comes back ACTIVE)")
    loses = False
    if inst.boot_from_volume:
        parts.append("boot-from-volume: keeps its disk")
    elif shared_storage:
        parts.append("shared storage: keeps its disk")
    else:
        loses = local_disk_gb(inst) > 0
        parts.append(f"local disk rebuilt from image {inst.image_id}: data on it is lost")
    if inst.flavor.ephemeral_gb and not shared_storage:
        parts.append(f"{inst.flavor.ephemeral_gb} GiB ephemeral disk starts empty")
        loses = True
    return Evacuation("; ".join(parts), needs_reset, loses, has_pci(inst))
