"""Points UiPath's generated Orchestrator client (uipath-orchestrator-rest, which validates
enum values while deserializing) at the simulator unchanged and reads every dataset.
Usage: python sdk_check.py PATH/TO/uipath-sim. Exits non-zero if any dataset fails."""
import json, subprocess, sys, urllib.parse, urllib.request
import uipath_orchestrator_rest as o

proc = subprocess.Popen([sys.argv[1], "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
base = proc.stdout.readline().split()[-1]
try:
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "fleet-demo",
        "client_secret": "fleet-demo-secret", "scope": "OR.Jobs.Read OR.Queues.Read OR.Folders.Read OR.Robots.Read OR.Execution.Read OR.Monitoring.Read OR.Audit.Read OR.Machines.Read OR.Users.Read"}).encode()
    token = json.load(urllib.request.urlopen(base + "/identity_/connect/token", body))["access_token"]
    cfg = o.Configuration(); cfg.access_token = token; cfg.host = base + "/demo-org/DefaultTenant/orchestrator_"
    client = o.ApiClient(cfg, header_name="Authorization", header_value="Bearer " + token)
    folders = o.FoldersApi(client).folders_get(top=50).value
    fid = folders[0].id
    checks = [("Folders", o.FoldersApi, "folders_get", False), ("Jobs", o.JobsApi, "jobs_get", True),
        ("QueueItems", o.QueueItemsApi, "queue_items_get", True), ("QueueItemEvents", o.QueueItemEventsApi, "queue_item_events_get", True),
        ("QueueDefinitions", o.QueueDefinitionsApi, "queue_definitions_get", True), ("Releases", o.ReleasesApi, "releases_get", True),
        ("Robots", o.RobotsApi, "robots_get", True), ("Machines", o.MachinesApi, "machines_get", False),
        ("Sessions", o.SessionsApi, "sessions_get", True), ("Users", o.UsersApi, "users_get", False),
        ("AuditLogs", o.AuditLogsApi, "audit_logs_get", False), ("RobotLogs", o.RobotLogsApi, "robot_logs_get", True),
        ("ProcessSchedules", o.ProcessSchedulesApi, "process_schedules_get", True)]
    failed = 0
    for name, api, method, scoped in checks:
        kw = {"top": 100}
        if scoped: kw["x_uipath_organization_unit_id"] = fid
        try:
            page = getattr(api(client), method)(**kw)
            print(f"{name}: {len(page.value)} records deserialized and validated")
        except Exception as e:
            failed += 1
            print(f"{name}: FAILED {type(e).__name__}: {str(e)[:300]}")
finally:
    proc.terminate()
sys.exit(1 if failed else 0)
