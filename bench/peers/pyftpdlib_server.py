"""pyftpdlib for the benchmark: FTPServer (one process, asynchronous I/O,
sendfile() for RETR), one user, the given passive range, no connection limits.

usage: /usr/bin/python3 pyftpdlib_server.py PORT ROOT PASV_MIN PASV_MAX USER PASSWORD
"""
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    port, root, pmin, pmax, user, password = sys.argv[1:7]
    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, root, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = authorizer
    handler.passive_ports = range(int(pmin), int(pmax) + 1)
    handler.timeout = 900
    handler.banner = "pyftpdlib ready"
    server = FTPServer(("127.0.0.1", int(port)), handler, backlog=1024)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
