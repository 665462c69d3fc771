"""The guest side of the meta data tests: Debian's own cloud-init CloudStack datasource, run from its
unpacked package (PYTHONPATH) by /usr/bin/python3 inside a VM namespace. Nothing here configures the
machine: the datasource's discovery and fetch functions are called and what they return is printed as
one JSON object.

  discover            how cloud-init finds the router (data-server, leases, default gateway)
  datasource RUNDIR   the whole DataSourceCloudStack._get_data(): discovery, readiness wait, user data,
                      meta data and password (the step cloud-init runs at boot, without persisting)
  fetch ADDR          ec2 helper fetches of user data and meta data from ADDR, no retries
  password ADDR       CloudStackPasswordServerClient(ADDR).get_password() (wget to port 8080)
"""
import json
import sys

from cloudinit import helpers
from cloudinit.sources import DataSourceCloudStack as cs
from cloudinit.sources.helpers import ec2


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def main(argv):
    command = argv[1]
    if command == "discover":
        return {"vr": cs.get_vr_address()}
    if command == "datasource":
        run_dir = argv[2]
        paths = helpers.Paths({"cloud_dir": run_dir, "run_dir": run_dir})
        sys_cfg = {"datasource": {"CloudStack": {"max_wait": 20, "timeout": 5}}}
        ds = cs.DataSourceCloudStack(sys_cfg, None, paths)
        ok = ds._get_data()
        return {
            "ok": ok,
            "vr": ds.vr_addr,
            "userdata": text(ds.userdata_raw),
            "metadata": ds.metadata,
            "keys": ds.get_public_ssh_keys(),
            "password": ds.get_config_obj().get("password"),
        }
    if command == "fetch":
        base = "http://%s/" % argv[2]
        userdata = ec2.get_instance_userdata("latest", base, timeout=5, retries=0)
        metadata = ec2.get_instance_metadata("latest", base, timeout=5, retries=0)
        return {"userdata": text(userdata), "metadata": metadata}
    if command == "password":
        try:
            return {"password": cs.CloudStackPasswordServerClient(argv[2]).get_password()}
        except Exception as error:  # the datasource logs and carries on; the test wants to see it
            return {"error": str(error)}
    raise SystemExit("unknown command %s" % command)


print(json.dumps(main(sys.argv)))
