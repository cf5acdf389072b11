"""moto in server mode, answering one request at a time.

moto applies a TransactWriteItems item by item and, when one of its conditions fails, puts back a
copy of the tables taken before it started. Two transactions at once can therefore undo each
other's writes, which DynamoDB never does. Tests that send concurrent writes (two signatures at
once) need DynamoDB's atomicity, so requests are handled one after another. Moto runs under the
GIL anyway, so little is lost.

It also keeps no record of DynamoDB's objects. moto remembers every model object it ever made
for /moto-api/data.json, and a TransactWriteItems deep-copies each table it touches: over a test
run that record grew to gigabytes, and the dump that the tests read SMS codes from slowed to
minutes. Tables are no part of that dump's use here (SMS and e-mail are), so DynamoDB's objects
are left out of it.

Usage: moto_serial.py HOST PORT
"""

import sys
import threading

import moto.dynamodb.models  # noqa: F401  (registers DynamoDB's model classes)
from moto.core.model_instances import model_data
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class Unrecorded(list):
    """A record that keeps nothing."""

    def append(self, _instance) -> None:
        pass


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    for model in model_data["dynamodb"].values():
        model.instances_tracked = Unrecorded()
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
