"""moto in server mode, answering one request at a time.

moto applies a TransactWriteItems item by item and, when one of its conditions fails, puts back a
copy of the tables taken before it started. Two transactions at once can therefore undo each
other's writes, which DynamoDB never does. Tests that send concurrent writes (two signatures at
once) need DynamoDB's atomicity, so requests are handled one after another. Moto runs under the
GIL anyway, so little is lost.

Usage: moto_serial.py HOST PORT
"""

import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serial(environ, start_response):
        # moto's own record (the SMS codes tests read) can take seconds to dump and changes no
        # table: it must not hold everyone else up.
        if environ.get("PATH_INFO", "").startswith("/moto-api/"):
            return app(environ, start_response)
        with one_at_a_time:
            # The whole body is produced inside the lock.
            return list(app(environ, start_response))

    run_simple(host, port, serial, threaded=True)


if __name__ == "__main__":
    main()
