"""Who may call what: the expected status of every API operation for every persona.

tests/functional/test_access.py calls each operation of ``cyborg.api.openapi.document()``
as each persona against a real Keystone and compares the answers with ``EXPECTED``; an
operation without a row here fails that test. doc/source/configuration/policy.rst shows
the table as it stands here.
"""

TABLE = """\
# [table-start]
# Personas (columns). Project A owns the objects acted on (ARQs, graphs, plans); device
# profiles, devices, deployables and attributes are global. Keystone's implied roles
# give a manager the member and reader roles, and a member the reader role.
#   rd  reader of project A            mb  member of project A
#   mg  manager of project A           ad  admin (admin role, project admin)
#   sv  service user (service role only, project service), its own token alone
#   B   member of project B, acting on project A's objects
#   nA  Nova for A: A's member's token plus Nova's service token (X-Service-Token)
#   nB  Nova for B: B's member's token plus Nova's service token, on A's objects
#   sA  system-scoped token, admin role  sR  system-scoped token, reader role
#   -   no token                         x   a token Keystone does not know
#
# Cells: the status answered at microversion 2.5 (list_plans: 2.7, jobs: 2.9) with [oslo_policy]
# enforce_new_defaults = True. 403 is the policy (or the service-token gate of binds:
# CVE-2026-40214); 404 for B and nB is project A's object being invisible to them.
# Every answer to sv, B and nB is also checked to hold no field of A's objects. The
# admin's 409 of program_deployable is the fake driver's, which programs no FPGA.
#
# operation                          rd  mb  mg  ad  sv  B   nA  nB  sA  sR  -   x
list_graphs                          200 200 200 200 403 200 200 200 403 403 401 401
create_graph                         403 201 201 201 403 201 201 201 403 403 401 401
show_graph                           200 200 200 200 403 404 200 404 403 403 401 401
create_plans                         403 201 201 201 403 404 201 404 403 403 401 401
list_plans                           200 200 200 200 403 200 200 200 403 403 401 401
show_plan                            200 200 200 200 403 404 200 404 403 403 401 401
claim_plan                           403 200 200 200 403 404 200 404 403 403 401 401
measure_plan                         403 202 202 202 403 404 202 404 403 403 401 401
list_jobs                            200 200 200 200 403 200 200 200 403 403 401 401
create_job                           403 201 201 201 403 201 201 201 403 403 401 401
show_job                             200 200 200 200 403 404 200 404 403 403 401 401
cancel_job                           403 204 204 204 403 404 204 404 403 403 401 401
list_devices                         403 403 200 200 403 403 403 403 403 403 401 401
show_device                          403 403 200 200 403 403 403 403 403 403 401 401
enable_device                        403 403 403 200 403 403 403 403 403 403 401 401
disable_device                       403 403 403 200 403 403 403 403 403 403 401 401
list_deployables                     403 403 200 200 403 403 403 403 403 403 401 401
show_deployable                      403 403 200 200 403 403 403 403 403 403 401 401
program_deployable                   403 403 403 409 403 403 403 403 403 403 401 401
list_attributes                      403 403 200 200 403 403 403 403 403 403 401 401
create_attribute                     403 403 403 201 403 403 403 403 403 403 401 401
show_attribute                       403 403 200 200 403 403 403 403 403 403 401 401
delete_attribute                     403 403 403 204 403 403 403 403 403 403 401 401
list_device_profiles                 200 200 200 200 403 200 200 200 403 403 401 401
create_device_profile                403 403 403 201 403 403 403 403 403 403 401 401
delete_device_profiles_by_query      403 403 403 204 403 403 403 403 403 403 401 401
show_device_profile                  200 200 200 200 403 200 200 200 403 403 401 401
delete_device_profiles               403 403 403 204 403 403 403 403 403 403 401 401
list_accelerator_requests            200 200 200 200 403 200 200 200 403 403 401 401
create_accelerator_requests          403 201 201 201 201 201 201 201 403 403 401 401
bind_or_unbind_accelerator_requests  403 403 403 403 403 403 202 404 403 403 401 401
delete_accelerator_requests          403 204 204 204 404 404 204 404 403 403 401 401
show_accelerator_request             200 200 200 200 403 404 200 404 403 403 401 401
bind_or_unbind_accelerator_request   403 403 403 403 403 403 202 404 403 403 401 401
delete_accelerator_request           403 204 204 204 404 404 204 404 403 403 401 401
#
# With enforce_new_defaults = False the deprecated rules are honoured too (each rule
# allows what its new default or its old one allows). The cells that change:
#
# operation                          rd  mb  mg  ad  sv  B   nA  nB  sA  sR  -   x
list_device_profiles                 .   .   .   .   200 .   .   .   .   .   .   .
show_device_profile                  .   .   .   .   200 .   .   .   .   .   .   .
list_accelerator_requests            .   .   .   .   200 .   .   .   .   .   .   .
delete_accelerator_requests          204 .   .   .   .   .   .   .   .   .   .   .
show_accelerator_request             .   .   .   .   404 .   .   .   .   .   .   .
delete_accelerator_request           204 .   .   .   .   .   .   .   .   .   .   .
# [table-end]
"""

PERSONAS = ("rd", "mb", "mg", "ad", "sv", "B", "nA", "nB", "sA", "sR", "-", "x")
# Personas that must never see a field of project A's objects.
OUTSIDERS = frozenset({"sv", "B", "nB"})
# Personas that see project A's objects.
INSIDERS = frozenset({"rd", "mb", "mg", "ad", "nA"})

Table = dict[str, dict[str, int]]


def _rows(section: str) -> list[tuple[str, list[str]]]:
    rows = []
    for line in section.splitlines():
        if line.strip() and not line.startswith("#"):
            operation, *cells = line.split()
            if len(cells) != len(PERSONAS):
                raise ValueError(f"access table: {operation} has {len(cells)} cells")
            rows.append((operation, cells))
    return rows


def _tables() -> tuple[Table, Table]:
    body = TABLE.split("# [table-start]", 1)[1].split("# [table-end]", 1)[0]
    new, legacy = body.split("# With enforce_new_defaults = False", 1)
    legacy = legacy.split("\n", 1)[1]  # the rest of the heading's line
    expected = {op: dict(zip(PERSONAS, map(int, cells), strict=True)) for op, cells in _rows(new)}
    if len(expected) != len(_rows(new)):
        raise ValueError("access table: an operation has two rows")
    with_legacy = {op: dict(row) for op, row in expected.items()}
    for operation, cells in _rows(legacy):
        for persona, cell in zip(PERSONAS, cells, strict=True):
            if cell != ".":
                with_legacy[operation][persona] = int(cell)
    return expected, with_legacy


EXPECTED, EXPECTED_WITH_LEGACY_DEFAULTS = _tables()
