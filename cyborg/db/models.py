"""SQLAlchemy 2.0 models of the database schema.

Table and column names are upstream Cyborg's, so data can move between the two.
Differences from upstream, each fixing a known weakness:

* every ARQ state is storable, including ``UnbindFailed`` and ``Deleting``;
* ARQs store ``project_id`` and keep a copy of their device-profile group, so a
  profile can be deleted once no unresolved ARQ needs it (its FK becomes NULL);
* natural keys are unique: one device per (host, control path), one deployable
  name per device, one attribute key per deployable, one attach handle per
  (deployable, address), one ARQ per attach handle;
* every filter the API offers has an index;
* enums are VARCHAR + CHECK (no native enum types), so adding a value later is a
  plain constraint change on every backend.

The migrations in ``cyborg/db/migrations`` create exactly this schema; a test
compares the two on SQLite, MariaDB and PostgreSQL.
"""

import datetime
import enum

import sqlalchemy as sa
from oslo_utils import timeutils
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cyborg.common import constants

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

# Microsecond timestamps everywhere (MySQL's DATETIME defaults to whole seconds).
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
# Double precision everywhere: MySQL's FLOAT is single and read back to six digits.
DOUBLE = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql")


def enum_type(enum_cls: type[enum.StrEnum], name: str) -> sa.Enum:
    """A portable enum: VARCHAR with a named CHECK constraint."""
    return sa.Enum(
        *constants.values(enum_cls),
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
    )


def _utcnow() -> datetime.datetime:
    return timeutils.utcnow()


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime.datetime] = mapped_column(Timestamp, default=_utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp, onupdate=_utcnow)


class Device(TimestampMixin, Base):
    __tablename__ = "devices"
    __table_args__ = (
        sa.Index("ix_devices_hostname", "hostname"),
        sa.Index("ix_devices_type", "type"),
        sa.Index("ix_devices_vendor", "vendor"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    type: Mapped[str] = mapped_column(enum_type(constants.DeviceType, "device_type"))
    vendor: Mapped[str] = mapped_column(sa.String(255))
    model: Mapped[str] = mapped_column(sa.String(255))
    std_board_info: Mapped[str | None] = mapped_column(sa.Text)
    vendor_board_info: Mapped[str | None] = mapped_column(sa.Text)
    hostname: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(
        enum_type(constants.DeviceStatus, "device_status"),
        default=constants.DeviceStatus.ENABLED.value,
    )


class Host(TimestampMixin, Base):
    """An agent's host: its identity, last inventory fingerprint and liveness.

    ``hostname`` is the one name the agent listens on for RPC, its devices carry and
    its Placement provider has. A host that stops reporting becomes ``stale``; its
    devices stay (they may be bound).
    """

    __tablename__ = "hosts"
    __table_args__ = (TABLE_ARGS,)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(sa.String(255), unique=True)
    inventory_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    last_seen_at: Mapped[datetime.datetime] = mapped_column(Timestamp, default=_utcnow)
    state: Mapped[str] = mapped_column(
        enum_type(constants.HostState, "host_state"), default=constants.HostState.UP.value
    )


class Conductor(TimestampMixin, Base):
    """One run of a conductor process: its host and when it last said it was alive.

    Each start is a new row (a new ``uuid``), so the binds of a conductor killed and
    started again on the same host are known to be abandoned. ``heartbeat_at`` is
    NULL once the run has stopped (a clean stop, or a newer run on its host).
    """

    __tablename__ = "conductors"
    __table_args__ = (sa.Index("ix_conductors_hostname", "hostname"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    hostname: Mapped[str] = mapped_column(sa.String(255))
    heartbeat_at: Mapped[datetime.datetime | None] = mapped_column(Timestamp, default=_utcnow)


class ControlpathID(TimestampMixin, Base):
    """How the host addresses a device (its PF's PCI address, as sorted-key JSON)."""

    __tablename__ = "controlpath_ids"
    __table_args__ = (
        # The device's host is repeated here so the DB itself forbids a second
        # device at the same address of the same host.
        sa.UniqueConstraint("hostname", "cpid_type", "cpid_info"),
        sa.Index("ix_controlpath_ids_device_id", "device_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    device_id: Mapped[int] = mapped_column(sa.ForeignKey("devices.id", ondelete="CASCADE"))
    hostname: Mapped[str] = mapped_column(sa.String(255))
    cpid_type: Mapped[str] = mapped_column(enum_type(constants.ControlpathType, "cpid_type"))
    cpid_info: Mapped[str] = mapped_column(sa.String(255))


class Deployable(TimestampMixin, Base):
    """A schedulable unit of a device; one Placement resource provider each."""

    __tablename__ = "deployables"
    __table_args__ = (
        sa.UniqueConstraint("device_id", "name"),
        sa.Index("ix_deployables_parent_id", "parent_id"),
        sa.Index("ix_deployables_root_id", "root_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployables.id", ondelete="CASCADE")
    )
    root_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployables.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    num_accelerators: Mapped[int] = mapped_column(sa.Integer)
    device_id: Mapped[int] = mapped_column(sa.ForeignKey("devices.id", ondelete="CASCADE"))
    rp_uuid: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    driver_name: Mapped[str | None] = mapped_column(sa.String(100))
    bitstream_id: Mapped[str | None] = mapped_column(sa.String(36))

    # lazy="raise": related rows are always loaded explicitly, in bulk.
    attributes: Mapped[list["Attribute"]] = relationship(
        lazy="raise", order_by="Attribute.id", viewonly=True
    )


class Attribute(TimestampMixin, Base):
    __tablename__ = "attributes"
    __table_args__ = (
        sa.UniqueConstraint("deployable_id", "key"),
        sa.Index("ix_attributes_key", "key"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    deployable_id: Mapped[int] = mapped_column(sa.ForeignKey("deployables.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    value: Mapped[str] = mapped_column(sa.Text)
    # constants.AttributeSource: a host's reports replace only the driver's rows.
    source: Mapped[str] = mapped_column(sa.String(16), server_default="driver")


class AttachHandle(TimestampMixin, Base):
    """One attachable function (PCI) or mediated-device slot (MDEV) of a deployable."""

    __tablename__ = "attach_handles"
    __table_args__ = (
        sa.UniqueConstraint("deployable_id", "attach_info"),
        sa.Index("ix_attach_handles_cpid_id", "cpid_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    deployable_id: Mapped[int] = mapped_column(sa.ForeignKey("deployables.id", ondelete="CASCADE"))
    cpid_id: Mapped[int] = mapped_column(sa.ForeignKey("controlpath_ids.id", ondelete="CASCADE"))
    in_use: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    attach_type: Mapped[str] = mapped_column(enum_type(constants.AttachType, "attach_type"))
    attach_info: Mapped[str] = mapped_column(sa.String(255))


class PodDeviceClaim(TimestampMixin, Base):
    """One attach handle handed to a Kubernetes pod: a ResourceClaim's device.

    A claim (``claim_uid``, the ResourceClaim's uid) holds one row per device; the
    handle is ``in_use`` while it does, as for an ARQ, and Placement holds one unit
    of the deployable's class for consumer ``claim_uid`` (consumer type ``POD``).
    """

    __tablename__ = "pod_device_claims"
    __table_args__ = (
        sa.Index("ix_pod_device_claims_claim_uid", "claim_uid"),
        sa.Index("ix_pod_device_claims_hostname", "hostname"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    claim_uid: Mapped[str] = mapped_column(sa.String(36))
    namespace: Mapped[str] = mapped_column(sa.String(63))  # a DNS label
    name: Mapped[str] = mapped_column(sa.String(253))  # a DNS subdomain
    hostname: Mapped[str] = mapped_column(sa.String(255))
    # RESTRICT: a device cannot disappear from under a pod (reports hold it back).
    attach_handle_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attach_handles.id", ondelete="RESTRICT"), unique=True
    )


class PodMigPartition(TimestampMixin, Base):
    """One MIG partition of a GPU handed to a ResourceClaim.

    Several claims may hold partitions of one GPU at once. Together they hold the GPU
    through one ``pod_device_claims`` row whose ``claim_uid`` is the GPU's own
    (cyborg.objects.pod_claim.gpu_consumer: the Placement consumer of its unit), and
    each partition row references it, so the GPU stays in use while one is left. A
    partition (``profile`` at memory slice ``start_slice``) goes to one claim only.
    """

    __tablename__ = "pod_mig_partitions"
    __table_args__ = (
        sa.UniqueConstraint("gpu_claim_id", "profile", "start_slice"),
        sa.Index("ix_pod_mig_partitions_claim_uid", "claim_uid"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    claim_uid: Mapped[str] = mapped_column(sa.String(36))
    namespace: Mapped[str] = mapped_column(sa.String(63))
    name: Mapped[str] = mapped_column(sa.String(253))
    hostname: Mapped[str] = mapped_column(sa.String(255))
    # RESTRICT: the GPU's row goes only after its last partition.
    gpu_claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("pod_device_claims.id", ondelete="RESTRICT"), index=True
    )
    profile: Mapped[str] = mapped_column(sa.String(32))  # "1g.10gb"
    start_slice: Mapped[int] = mapped_column(sa.Integer)


class DeviceProfile(TimestampMixin, Base):
    __tablename__ = "device_profiles"
    __table_args__ = (
        sa.Index("ix_device_profiles_project_id", "project_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    # {"groups": [{"resources:FPGA": "1", ...}, ...]}, upstream's storage format.
    profile_json: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    # NULL: visible to every project (created by an administrator for all).
    project_id: Mapped[str | None] = mapped_column(sa.String(255))


class ExtendedAcceleratorRequest(TimestampMixin, Base):
    """One accelerator request (ARQ): one accelerator of one device-profile group."""

    __tablename__ = "extended_accelerator_requests"
    __table_args__ = (
        sa.Index("ix_extended_accelerator_requests_project_id", "project_id"),
        sa.Index("ix_extended_accelerator_requests_instance_uuid", "instance_uuid"),
        sa.Index("ix_extended_accelerator_requests_device_rp_uuid", "device_rp_uuid"),
        sa.Index("ix_extended_accelerator_requests_state", "state"),
        sa.Index("ix_extended_accelerator_requests_device_profile_id", "device_profile_id"),
        sa.Index("ix_extended_accelerator_requests_deployable_id", "deployable_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(
        enum_type(constants.ARQState, "arq_state"), default=constants.ARQState.INITIAL.value
    )
    substate: Mapped[str] = mapped_column(sa.String(32), default="Initial")
    # SET NULL: the ARQ keeps its own copy of the profile's name and group.
    device_profile_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("device_profiles.id", ondelete="SET NULL")
    )
    device_profile_name: Mapped[str] = mapped_column(sa.String(255))
    device_profile_group: Mapped[str] = mapped_column(sa.Text)
    device_profile_group_id: Mapped[int] = mapped_column(sa.Integer, default=0)
    hostname: Mapped[str | None] = mapped_column(sa.String(255))
    device_rp_uuid: Mapped[str | None] = mapped_column(sa.String(36))
    instance_uuid: Mapped[str | None] = mapped_column(sa.String(36))
    # RESTRICT: a device cannot disappear from under a bound ARQ.
    attach_handle_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("attach_handles.id", ondelete="RESTRICT"), unique=True
    )
    deployable_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("deployables.id", ondelete="RESTRICT")
    )
    # Why the last bind failed (BindFailed), for operators; cleared by the next bind.
    bind_failure_reason: Mapped[str | None] = mapped_column(sa.String(255))
    # JSON {resource class: amount}: this ARQ's share of its instance's allocation on
    # device_rp_uuid, claimed by Cyborg (a bind without device_rp_uuid). NULL when the
    # allocation, if any, is Nova's: Cyborg never changes those.
    claimed_resources: Mapped[str | None] = mapped_column(sa.Text)
    # The uuid of the conductor run (conductors.uuid) binding it, while BindStarted:
    # another conductor takes the bind over once that run's heartbeat stops.
    binding_conductor: Mapped[str | None] = mapped_column(sa.String(36))

    attach_handle: Mapped[AttachHandle | None] = relationship(lazy="raise", viewonly=True)
    deployable: Mapped[Deployable | None] = relationship(lazy="raise", viewonly=True)


class NovaNotification(TimestampMixin, Base):
    """An accelerator-request-bound event owed to Nova: the outbox of bind results.

    Written in the transaction that resolves the ARQ, so an event is never sent for a
    state that was not committed, and a conductor restart loses none. Deleted once
    Nova has answered (or the event is too old to matter); gone with its ARQ.
    """

    __tablename__ = "nova_notifications"
    __table_args__ = (
        sa.Index("ix_nova_notifications_instance_uuid", "instance_uuid"),
        sa.Index("ix_nova_notifications_next_attempt_at", "next_attempt_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    arq_id: Mapped[int] = mapped_column(
        sa.ForeignKey("extended_accelerator_requests.id", ondelete="CASCADE"), unique=True
    )
    arq_uuid: Mapped[str] = mapped_column(sa.String(36))
    instance_uuid: Mapped[str] = mapped_column(sa.String(36))
    status: Mapped[str] = mapped_column(enum_type(constants.NovaEventStatus, "event_status"))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(Timestamp, default=_utcnow)


class Graph(TimestampMixin, Base):
    """A model graph uploaded for planning: the scheduler's analysed graph as JSON."""

    __tablename__ = "graphs"
    __table_args__ = (sa.Index("ix_graphs_project_id", "project_id"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(255))
    format: Mapped[str] = mapped_column(sa.String(16))  # "json" or "onnx": how it came
    # cyborg.scheduler.graph_json's document of the analysed graph (MEDIUMTEXT on MySQL).
    graph_json: Mapped[str] = mapped_column(sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"))
    nodes: Mapped[int] = mapped_column(sa.Integer)
    flops: Mapped[float] = mapped_column(DOUBLE)
    bytes_moved: Mapped[float] = mapped_column(DOUBLE)  # read + written by all nodes
    param_bytes: Mapped[float] = mapped_column(DOUBLE)


class Plan(TimestampMixin, Base):
    """One ranked plan of a graph on the live inventory; claimed for one consumer."""

    __tablename__ = "plans"
    __table_args__ = (
        sa.Index("ix_plans_graph_id", "graph_id"),
        sa.Index("ix_plans_project_id", "project_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    graph_id: Mapped[int] = mapped_column(sa.ForeignKey("graphs.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    objective: Mapped[str] = mapped_column(sa.String(16))
    rank: Mapped[int] = mapped_column(sa.Integer, default=0)
    request_json: Mapped[str] = mapped_column(sa.Text)
    # Device per node, estimates, devices used (MEDIUMTEXT on MySQL: one entry per node).
    result_json: Mapped[str] = mapped_column(sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"))
    state: Mapped[str] = mapped_column(
        enum_type(constants.PlanState, "plan_state"), default=constants.PlanState.PROPOSED.value
    )
    consumer_uuid: Mapped[str | None] = mapped_column(sa.String(36))


class SchedulerFactor(TimestampMixin, Base):
    """A learned roofline correction of one (op type, device model)."""

    __tablename__ = "scheduler_factors"
    __table_args__ = (sa.UniqueConstraint("op_type", "device_model"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    op_type: Mapped[str] = mapped_column(sa.String(255))
    device_model: Mapped[str] = mapped_column(sa.String(255))
    factor: Mapped[float] = mapped_column(DOUBLE)
    samples: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Incremented by every update: a writer that read an older version lost a race.
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class Job(TimestampMixin, Base):
    """A cluster-scheduling job (API microversion 2.9): a graph or a job type, a gang
    size or an elastic range, a priority and a weight; queued until the scheduler
    allocates it. The queue is ordered by (priority desc, created_at, id)."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_project_id_state", "project_id", "state"),
        sa.Index("ix_jobs_state_priority_created_at", "state", "priority", "created_at"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(sa.String(255))
    # One of the two: the uuid of a graph of the project, or a job type's name.
    graph_uuid: Mapped[str | None] = mapped_column(sa.String(36))
    job_type: Mapped[str | None] = mapped_column(sa.String(255))
    # JSON {device model: work units per second of one gang}, or NULL.
    throughputs_json: Mapped[str | None] = mapped_column(sa.Text)
    min_devices: Mapped[int] = mapped_column(sa.Integer)
    max_devices: Mapped[int] = mapped_column(sa.Integer)
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    weight: Mapped[float] = mapped_column(DOUBLE, default=1.0)
    state: Mapped[str] = mapped_column(
        enum_type(constants.JobState, "job_state"), default=constants.JobState.QUEUED.value
    )
    # JSON of the scheduler's proposed devices once allocated; NULL until then.
    allocation_json: Mapped[str | None] = mapped_column(sa.Text)


class ConductorCall(Base):
    """What a conductor call committed, for a caller that lost the reply.

    Written in the call's first commit that writes (its acceptance, made only inside
    the call's deadline: cyborg.db.commit_guard), with the answer when the call noted
    it before that commit; ``outcome`` is filled when the call ends. A call without a
    row changed nothing and never will. Rows are pruned after a day.
    """

    __tablename__ = "conductor_calls"
    __table_args__ = (sa.Index("ix_conductor_calls_created_at", "created_at"), TABLE_ARGS)

    call_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(64))
    # JSON: {"result": ...} or {"error": {"code": int, "message": str}}; NULL: unknown.
    outcome: Mapped[str | None] = mapped_column(sa.Text)
    finished: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime.datetime] = mapped_column(Timestamp, default=_utcnow)
