"""The project's Celery app: eager (tasks run in the caller), in memory."""

import logging

from celery import Celery

import sawmill.celery

app = Celery("djangoapp", broker="memory://", backend="cache+memory://")
app.conf.task_always_eager = True
app.conf.task_eager_propagates = False
sawmill.celery.install(app)

log = logging.getLogger("djangoapp.tasks")


class PaymentDeclined(Exception):
    """The card was refused."""


@app.task(name="djangoapp.charge")
def charge(order_id):
    log.info("charging order %s", order_id, extra={"order_id": order_id})
    raise PaymentDeclined("card declined for order %s" % order_id)


@app.task(name="djangoapp.add")
def add(x, y):
    log.info("adding")
    return x + y


@app.task(bind=True, name="djangoapp.flaky", max_retries=1, default_retry_delay=0)
def flaky(self):
    if self.request.retries == 0:
        raise self.retry(exc=ConnectionError("upstream busy"))
    return "ok"
