"""``/payments/kaspi/``: the Kaspi-style biller check/pay protocol, answered in JSON.

    GET /payments/kaspi/?command=pay&txn_id=1234567&account=10010000019&sum=500.00
        &txn_date=20250904081500
    → {"txn_id":"1234567","prv_txn_id":"42","result":0,"sum":"500.00","comment":"…"}

Result codes: 0 OK, 1 account not found, 2 cancelled, 3 already paid (a ``check`` of a
paid ``txn_id``), 4 in progress, 5 other error. The keys are always these, in this
order; ``check`` adds ``name`` (masked) and ``school``. See docs/payments.md.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from kezekshi.canteen.models import PaymentProvider
from kezekshi.canteen.payments import agent
from kezekshi.canteen.payments.agent import Outcome, Reply
from kezekshi.canteen.payments.common import Answer

CONTENT_TYPE = "application/json; charset=utf-8"


class Kaspi(agent.Dialect):
    protocol = PaymentProvider.Protocol.KASPI
    codes = {
        Outcome.OK: 0,
        Outcome.ALREADY_PAID: 3,
        Outcome.ACCOUNT_NOT_FOUND: 1,
        Outcome.BAD_ACCOUNT: 1,
        Outcome.SUM_FORMAT: 5,
        Outcome.SUM_TOO_SMALL: 5,
        Outcome.SUM_TOO_LARGE: 5,
        Outcome.BAD_REQUEST: 5,
        Outcome.TXN_ID_REUSED: 5,
        Outcome.UNAUTHORIZED: 5,
        Outcome.FORBIDDEN: 5,
        Outcome.WRONG_METHOD: 5,
        Outcome.TOO_LARGE: 5,
    }

    def render(self, reply: Reply) -> Answer:
        result = self.codes[reply.outcome]
        body: dict[str, object] = {
            "txn_id": reply.txn_id,
            "prv_txn_id": reply.prv_txn_id,
            "result": result,
            "sum": reply.sum,
            "comment": reply.comment,
        }
        if reply.command == "check" and reply.outcome in (Outcome.OK, Outcome.ALREADY_PAID):
            body["name"] = reply.name
            body["school"] = reply.school
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return Answer(data, CONTENT_TYPE, str(result), reply.status)


DIALECT = Kaspi()


@csrf_exempt
def endpoint(request: HttpRequest) -> HttpResponse:
    return agent.handle(request, DIALECT)
