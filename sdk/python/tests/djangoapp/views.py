"""Views of the test project."""

import logging

from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse, JsonResponse

from . import celeryapp

log = logging.getLogger("djangoapp.views")


def hello(request):
    log.info("saying hello", extra={"greeting": "hi"})
    return HttpResponse("hello")


def boom(request):
    log.info("about to fail")
    raise RuntimeError("view exploded")


def order(request):
    r = celeryapp.charge.delay(17)
    return JsonResponse({"task_id": r.id, "state": r.state}, status=202)


def signin(request):
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return HttpResponse("no", status=401)
    login(request, user)
    return HttpResponse("ok")


def signout(request):
    logout(request)
    return HttpResponse("bye")


def me(request):
    log.info("who am i")
    return HttpResponse(str(request.user.pk))
