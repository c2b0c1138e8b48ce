"""An example Nephele provider plugin in Python: a "cloud" kept in a local JSON file.

Small but complete: it does the go-plugin style handshake, serves nephele.provider.v1 and the
standard gRPC health service on a Unix socket, creates exactly once per operation id, answers
errors as typed `Failure`s, streams lists in pages, and exits when the host closes its stdin.
Read it next to docs/plugins.md; `nephele plugin check` runs the conformance suite against it.

Settings (the host's `providers.<name>` section, minus `plugin`/`sha256`):
  inventory_file: path of the JSON file holding the instances (created when missing)
  name:           the provider's name (default "inventory")
"""

import datetime
import json
import os
import sys
import tempfile
import threading
import uuid
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "generated"))

import grpc  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402

from nephele.provider.v1 import provider_pb2 as pb  # noqa: E402
from nephele.provider.v1 import provider_pb2_grpc as pb_grpc  # noqa: E402

MAGIC_COOKIE_KEY = "NEPHELE_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "4f1c9e5b2d7a46c8a3e0b6d9f2c1e8a7"
PROTOCOL_VERSIONS_KEY = "NEPHELE_PLUGIN_PROTOCOL_VERSIONS"
SOCKET_DIR_KEY = "NEPHELE_PLUGIN_SOCKET_DIR"
CORE_VERSION = 1
APP_PROTOCOL_VERSION = 1
PAGE = 1000

REGIONS = [("lab1", "Lab One"), ("lab2", "Lab Two")]
TYPES = [
    # id, vcpus, memory MiB, disk GiB, hourly, monthly
    ("small", 1, 1024, 25, "0.01", "6.72"),
    ("large", 4, 8192, 160, "0.08", "53.76"),
]
IMAGES = ["debian-12", "ubuntu-24-04"]
POWER = {
    pb.POWER_ON: ("power_on", pb.RUNNING),
    pb.POWER_OFF: ("power_off", pb.STOPPED),
    pb.SHUTDOWN: ("shutdown", pb.STOPPED),
    pb.REBOOT: ("reboot", pb.RUNNING),
    pb.POWER_CYCLE: ("power_cycle", pb.RUNNING),
}


class Failure(Exception):
    """A ProviderError: aborts the call with its gRPC code and the typed trailer."""

    CODES = {
        pb.Failure.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        pb.Failure.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
        pb.Failure.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
        pb.Failure.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
        pb.Failure.CONFLICT: grpc.StatusCode.FAILED_PRECONDITION,
        pb.Failure.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
        pb.Failure.INVALID_RESPONSE: grpc.StatusCode.DATA_LOSS,
    }

    def __init__(self, kind, message, field=None):
        super().__init__(message)
        self.failure = pb.Failure(kind=kind, message=message, field=field)

    def abort(self, context):
        context.set_trailing_metadata((("nephele-failure-bin", self.failure.SerializeToString()),))
        context.abort(self.CODES[self.failure.kind], self.failure.message)


def now():
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    return ts


def failing(method):
    """Turns a raised Failure into the aborted call the protocol describes."""

    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except Failure as failure:
            failure.abort(context)

    return wrapper


class Inventory:
    """The instances, in a JSON file (rewritten whole on each change: an example, not a database)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        if not os.path.exists(path):
            self._save({"instances": [], "actions": []})

    def _load(self):
        with open(self.path) as f:
            return json.load(f)

    def _save(self, data):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)

    def read(self):
        with self.lock:
            return self._load()

    def change(self, fn):
        with self.lock:
            data = self._load()
            result = fn(data)
            self._save(data)
            return result


def to_instance(record):
    kind = next(t for t in TYPES if t[0] == record["type"])
    created = timestamp_pb2.Timestamp()
    created.FromJsonString(record["created_at"])
    return pb.Instance(
        id=record["id"],
        name=record["name"],
        status=record["status"],
        provider_status=pb.InstanceStatus.Name(record["status"]).lower(),
        instance_type=record["type"],
        region=record["region"],
        image=record["image"],
        vcpus=kind[1],
        memory_mib=kind[2],
        disk_gib=kind[3],
        private_ipv4=record.get("ip"),
        tags=record["tags"],
        created_at=created,
    )


class Provider(pb_grpc.ProviderServicer):
    def __init__(self):
        self.inventory = None
        self.name = "inventory"
        self.calls = 0

    def _ready(self):
        self.calls += 1
        if self.inventory is None:
            raise Failure(pb.Failure.UNAVAILABLE, "not configured: the host must call Configure first")
        return self.inventory

    @failing
    def Configure(self, request, context):
        try:
            settings = json.loads(request.settings_json or b"{}")
        except ValueError as e:
            raise Failure(pb.Failure.INVALID_INPUT, f"settings are not JSON: {e}", "settings_json")
        path = settings.get("inventory_file")
        if not isinstance(path, str) or not path:
            raise Failure(pb.Failure.INVALID_INPUT, "inventory_file is required", "inventory_file")
        self.name = settings.get("name", "inventory")
        self.inventory = Inventory(path)
        return pb.ProviderInfo(
            name=self.name,
            display_name="Local inventory (Python example)",
            version="0.1.0",
            default_region="lab1",
            capabilities=["instances", "power_actions", "regions", "instance_types", "images"],
        )

    @failing
    def Ping(self, request, context):
        self._ready().read()
        return pb.PingResponse()

    def GetCounters(self, request, context):
        return pb.Counters(values={"requests_sent": self.calls})

    def ShareRateLimit(self, request, context):
        return pb.ShareRateLimitResponse()

    @failing
    def GetBillingPolicy(self, request, context):
        return pb.BillingPolicy(
            name="per_started_hour",
            metering=pb.PER_STARTED_HOUR,
            monthly_cap=False,
            minimum_seconds=3600,
            minimum_charge="0",
            weekly_backup_rate="0",
            daily_backup_rate="0",
            assumptions=["The example inventory bills every started hour at the type's hourly price."],
        )

    @failing
    def ListInstances(self, request, context):
        records = self._ready().read()["instances"]
        f = request.filter
        chosen = [
            to_instance(r)
            for r in records
            if (not f.HasField("region") or r["region"] == f.region)
            and (not f.HasField("status") or r["status"] == f.status)
            and (not f.HasField("tag") or f.tag in r["tags"])
            and (not f.HasField("name") or r["name"] == f.name)
        ]
        for start in range(0, len(chosen), PAGE):
            if not context.is_active():
                return  # the host went away: stop working for it
            yield pb.InstancePage(instances=chosen[start : start + PAGE])

    def _find(self, data, id):
        for record in data["instances"]:
            if record["id"] == id:
                return record
        raise Failure(pb.Failure.NOT_FOUND, f"no instance {id}")

    @failing
    def GetInstance(self, request, context):
        # The host names the request each call serves; say it, so its log and ours line up.
        request_id = dict(context.invocation_metadata()).get("x-request-id", "-")
        print(f"GetInstance id={request.id} request_id={request_id}", file=sys.stderr, flush=True)
        return to_instance(self._find(self._ready().read(), request.id))

    def _check_create(self, request):
        if request.region not in [r[0] for r in REGIONS]:
            raise Failure(pb.Failure.INVALID_INPUT, f"unknown region {request.region}", "region")
        if request.instance_type not in [t[0] for t in TYPES]:
            raise Failure(pb.Failure.INVALID_INPUT, f"unknown instance type {request.instance_type}", "instance_type")
        if request.image not in IMAGES:
            raise Failure(pb.Failure.INVALID_INPUT, f"unknown image {request.image}", "image")
        if not request.names:
            raise Failure(pb.Failure.INVALID_INPUT, "names must not be empty", "names")
        try:
            uuid.UUID(request.operation_id)
        except ValueError:
            raise Failure(pb.Failure.INVALID_INPUT, "operation_id must be a UUID", "operation_id")

    def _made_by(self, data, operation_id):
        return [r for r in data["instances"] if r.get("operation") == operation_id]

    @failing
    def CreateInstances(self, request, context):
        inventory = self._ready()
        self._check_create(request)

        def create(data):
            # Exactly once: a create seen before answers what it made then.
            made = self._made_by(data, request.operation_id)
            if made:
                return made
            return self._add(data, request)

        return pb.InstanceList(instances=[to_instance(r) for r in inventory.change(create)])

    def _add(self, data, request):
        made = []
        for name in request.names:
            n = len(data["instances"]) + len(data.get("deleted", [])) + 1
            record = {
                "id": str(1000 + n),
                "name": name,
                "status": pb.RUNNING,
                "type": request.instance_type,
                "region": request.region,
                "image": request.image,
                "tags": list(request.tags),
                "ip": f"10.0.{n // 250}.{n % 250 + 1}",
                "operation": request.operation_id,
                "created_at": now().ToJsonString(),
            }
            data["instances"].append(record)
            made.append(record)
        return made

    @failing
    def FindInstancesByOperation(self, request, context):
        data = self._ready().read()
        return pb.InstanceList(instances=[to_instance(r) for r in self._made_by(data, request.operation_id)])

    @failing
    def DeleteInstance(self, request, context):
        def delete(data):
            record = self._find(data, request.id)
            data["instances"].remove(record)
            data.setdefault("deleted", []).append(record["id"])

        self._ready().change(delete)
        return pb.DeleteInstanceResponse()

    @failing
    def PowerAction(self, request, context):
        if request.action not in POWER:
            raise Failure(pb.Failure.INVALID_INPUT, "unknown power action", "action")
        kind, status = POWER[request.action]

        def act(data):
            record = self._find(data, request.instance_id)
            record["status"] = status
            action = {
                "id": str(len(data["actions"]) + 1),
                "kind": kind,
                "instance_id": record["id"],
                "at": now().ToJsonString(),
            }
            data["actions"].append(action)
            return action

        return self._action(self._ready().change(act))

    def _action(self, action):
        at = timestamp_pb2.Timestamp()
        at.FromJsonString(action["at"])
        return pb.Action(
            id=action["id"],
            kind=action["kind"],
            status=pb.COMPLETED,
            instance_id=action["instance_id"],
            started_at=at,
            completed_at=at,
        )

    @failing
    def FindPowerAction(self, request, context):
        kind = POWER.get(request.action, ("?",))[0]
        since = request.since.ToDatetime()
        for action in reversed(self._ready().read()["actions"]):
            at = timestamp_pb2.Timestamp()
            at.FromJsonString(action["at"])
            if action["instance_id"] == request.instance_id and action["kind"] == kind and at.ToDatetime() >= since:
                return pb.FindPowerActionResponse(action=self._action(action))
        return pb.FindPowerActionResponse()

    @failing
    def GetAction(self, request, context):
        for action in self._ready().read()["actions"]:
            if action["id"] == request.id:
                return self._action(action)
        raise Failure(pb.Failure.NOT_FOUND, f"no action {request.id}")

    def ListRegions(self, request, context):
        types = [t[0] for t in TYPES]
        return pb.RegionList(
            regions=[pb.Region(id=r, name=n, available=True, instance_types=types) for r, n in REGIONS]
        )

    def ListInstanceTypes(self, request, context):
        return pb.InstanceTypeList(
            instance_types=[
                pb.InstanceType(
                    id=t,
                    description=f"{t} ({c} vCPU)",
                    vcpus=c,
                    memory_mib=m,
                    disk_gib=d,
                    transfer_tib="1",
                    price_hourly=h,
                    price_monthly=mo,
                    currency="USD",
                    regions=[r[0] for r in REGIONS],
                    available=True,
                )
                for t, c, m, d, h, mo in TYPES
            ]
        )

    def ListImages(self, request, context):
        return pb.ImageList(
            images=[
                pb.Image(id=i, slug=i, name=i, distribution=i.split("-")[0], public=True, kind="base",
                         regions=[r[0] for r in REGIONS], status="available")
                for i in IMAGES
            ]
        )


def serve(provider):
    """The plugin's life: handshake, serve, stop when stdin closes."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print("This program is a Nephele provider plugin; the Nephele server starts it.", file=sys.stderr)
        sys.exit(1)
    offered = [v.strip() for v in os.environ.get(PROTOCOL_VERSIONS_KEY, "").split(",")]
    if str(APP_PROTOCOL_VERSION) not in offered:
        print(f"host offers protocol versions {offered}; this plugin speaks {APP_PROTOCOL_VERSION}", file=sys.stderr)
        sys.exit(1)
    # The host names a fresh directory only its user can enter, and refuses a socket elsewhere;
    # a host from before that variable leaves us to make our own.
    given = os.environ.get(SOCKET_DIR_KEY)
    folder = given or tempfile.mkdtemp(prefix="nephele-plugin-")
    socket = os.path.join(folder, "plugin.sock")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_ProviderServicer_to_server(provider, server)
    checker = health.HealthServicer()
    checker.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    server.add_insecure_port("unix:" + socket)
    server.start()
    print(f"{CORE_VERSION}|{APP_PROTOCOL_VERSION}|unix|{socket}|grpc", flush=True)
    try:
        while sys.stdin.buffer.read(256):
            pass
    except KeyboardInterrupt:
        pass
    server.stop(grace=2).wait()
    try:
        os.unlink(socket)
        if not given:  # the host's directory is the host's to remove
            os.rmdir(folder)
    except OSError:
        pass


if __name__ == "__main__":
    serve(Provider())
