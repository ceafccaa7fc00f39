"""``/payments/osmp/``: the OSMP/QIWI check/pay protocol, answered in XML.

    GET /payments/osmp/?command=pay&txn_id=1234567&txn_date=20250904081500
        &account=10010000019&sum=500.00
    → <?xml version="1.0" encoding="UTF-8"?>
      <response><osmp_txn_id>1234567</osmp_txn_id><prv_txn>42</prv_txn><sum>500.00</sum>
      <result>0</result><comment>…</comment></response>

Result codes: 0 OK, 4 bad account format, 5 account not found, 241 sum too small,
242 sum too large, 300 other error (a bad request, time, credentials or source). A
``check`` of a found account adds ``<fields>`` with the masked name and the school.
See docs/payments.md.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from kezekshi.canteen.models import PaymentProvider
from kezekshi.canteen.payments import agent
from kezekshi.canteen.payments.agent import Outcome, Reply
from kezekshi.canteen.payments.common import Answer

CONTENT_TYPE = "text/xml; charset=utf-8"


class Osmp(agent.Dialect):
    protocol = PaymentProvider.Protocol.OSMP
    codes = {
        Outcome.OK: 0,
        Outcome.ALREADY_PAID: 0,
        Outcome.ACCOUNT_NOT_FOUND: 5,
        Outcome.BAD_ACCOUNT: 4,
        Outcome.SUM_FORMAT: 300,
        Outcome.SUM_TOO_SMALL: 241,
        Outcome.SUM_TOO_LARGE: 242,
        Outcome.BAD_REQUEST: 300,
        Outcome.TXN_ID_REUSED: 300,
        Outcome.UNAUTHORIZED: 300,
        Outcome.FORBIDDEN: 300,
        Outcome.WRONG_METHOD: 300,
        Outcome.TOO_LARGE: 300,
    }

    def render(self, reply: Reply) -> Answer:
        result = self.codes[reply.outcome]
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            "<response>",
            f"<osmp_txn_id>{escape(reply.txn_id)}</osmp_txn_id>",
            # Always present, as the protocol lists it (empty until a pay is booked).
            f"<prv_txn>{escape(reply.prv_txn_id)}</prv_txn>",
            f"<sum>{escape(reply.sum)}</sum>",
            f"<result>{result}</result>",
            f"<comment>{escape(reply.comment)}</comment>",
        ]
        if reply.command == "check" and reply.outcome in (Outcome.OK, Outcome.ALREADY_PAID):
            lines += [
                "<fields>",
                f"<field1 name={quoteattr('name')}>{escape(reply.name)}</field1>",
                f"<field2 name={quoteattr('school')}>{escape(reply.school)}</field2>",
                "</fields>",
            ]
        lines.append("</response>")
        return Answer("\n".join(lines).encode(), CONTENT_TYPE, str(result), reply.status)


DIALECT = Osmp()


@csrf_exempt
def endpoint(request: HttpRequest) -> HttpResponse:
    return agent.handle(request, DIALECT)
