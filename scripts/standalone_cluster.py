"""Start or stop a Spark standalone cluster (one master, one worker) on 127.0.0.1.

    standalone_cluster.py up   --state-dir DIR [--port 7077] [--web-port 8080] [--cores 2] [--memory 2g]
    standalone_cluster.py down --state-dir DIR

`up` leaves both processes running in the background and records their pids in DIR/state.json;
`down` stops exactly those pids. Logs: DIR/master.log, DIR/worker.log, DIR/work/<app>/<executor>/.
"""

import argparse
import sys
from pathlib import Path

from lastfm.platforms.cluster import Standalone, start_standalone, stop_standalone

LOG4J = Path(__file__).resolve().parent.parent / "conf" / "log4j2-daemons.properties"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=7077)
    parser.add_argument("--web-port", type=int, default=8080)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory", default="2g")
    args = parser.parse_args(argv)
    state = args.state_dir / "state.json"
    if args.action == "up":
        if state.exists():
            print(f"error: {state} exists: a cluster is already up (make cluster-down)", file=sys.stderr)
            return 1
        cluster = start_standalone(args.state_dir, port=args.port, web_port=args.web_port,
                                   cores=args.cores, memory=args.memory, log4j_conf=LOG4J)
        cluster.save(state)
        print(f"master {cluster.url} (pid {cluster.master_pid}), UI {cluster.web_url}; "
              f"worker pid {cluster.worker_pid}; logs in {args.state_dir}")
        return 0
    if not state.exists():
        print(f"no cluster recorded in {state}; nothing to stop")
        return 0
    cluster = Standalone.load(state)
    stop_standalone(cluster)
    state.unlink()
    print(f"stopped worker pid {cluster.worker_pid} and master pid {cluster.master_pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
