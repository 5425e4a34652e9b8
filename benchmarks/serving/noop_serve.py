"""Serve ``noop_app:app`` with N uvicorn workers, with TCP_NODELAY kept on its connections.

``uvicorn --workers N`` binds a listening socket whose ``proto`` is 0, so asyncio never
sets TCP_NODELAY on the connections and every keep-alive answer waits ~40 ms for the
client's delayed ACK (uvicorn issue #3149). ``tabloop serve --workers N`` works around it;
the do-nothing baseline gets the same one-line workaround so that the 2-worker cells
compare the servers, not the bug.

Usage: ``python noop_serve.py PORT WORKERS``
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    config = uvicorn.Config("noop_app:app", host="127.0.0.1", port=port, workers=workers, log_level="warning",
                            access_log=False)
    if workers == 1:
        uvicorn.Server(config).run()
        return
    listener = socket.socket(fileno=config.bind_socket().detach())  # proto read back: IPPROTO_TCP
    Multiprocess(config, sockets=[listener]).run()


if __name__ == "__main__":
    main()
