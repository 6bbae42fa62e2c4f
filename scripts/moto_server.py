"""moto in server mode, for the tests, with three fixes and one fault switch.

The first fix: moto writes DkimAttributes.LastKeyGenerationTimestamp as an ISO 8601 string; the
SES v2 wire protocol (REST-JSON) carries timestamps as epoch seconds, and the AWS SDKs
refuse the string. This launcher converts it before moto's server starts.

The second fix: Route 53 refuses a CREATE only while a record set of that name and type
exists. moto also refuses one identical to a CREATE it accepted earlier in the zone, even
after that record set was deleted (its change journal decides, and the listing it then
consults starts at the name and includes the apex's SOA and NS), so a registration retried
after a crash could never write its MX again. The launcher drops such stale journal entries
when no record set of the name and type exists.

The third fix: moto 5.2.5 lacks SES v2's PutEmailIdentityMailFromAttributes. The launcher
adds it on moto's own identity model, as SES documents it: GetEmailIdentity then answers
MailFromAttributes with the domain, the behaviour on MX failure, and MailFromDomainStatus
PENDING (SES moves it on only once it sees the MX record, which no test DNS shows it).

The fault switch: Route 53 refuses every change to a hosted zone whose comment is
"refuse-changes", so tests can make Route 53 fail in the middle of a registration.

Usage: python moto_server.py PORT
"""

import sys
from datetime import datetime

from moto.ses import models as ses_models

_original_init = ses_models.EmailIdentity.__init__


def _init_with_epoch_timestamp(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    stamp = self.dkim_attributes.get("LastKeyGenerationTimestamp")
    if isinstance(stamp, str):
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        self.dkim_attributes["LastKeyGenerationTimestamp"] = parsed.timestamp()


ses_models.EmailIdentity.__init__ = _init_with_epoch_timestamp

_original_response = ses_models.EmailIdentity.get_response_object.fget


def _response_with_mail_from(self):
    response = _original_response(self)
    attributes = getattr(self, "mail_from_attributes", None)
    if attributes:
        response["MailFromAttributes"] = attributes
    return response


ses_models.EmailIdentity.get_response_object = property(_response_with_mail_from)

import json  # noqa: E402
from urllib.parse import unquote  # noqa: E402

from moto.sesv2 import responses as sesv2_responses  # noqa: E402


def _put_mail_from(self):
    # PUT /v2/email/identities/{EmailIdentity}/mail-from
    name = unquote(self.path.split("?")[0].rstrip("/").split("/")[-2])
    identity = self.sesv2_backend.get_email_identity(email_identity=name)
    body = json.loads(self.body or "{}")
    domain = body.get("MailFromDomain")
    if domain:
        identity.mail_from_attributes = {
            "MailFromDomain": domain,
            "MailFromDomainStatus": "PENDING",
            "BehaviorOnMxFailure": body.get("BehaviorOnMxFailure", "USE_DEFAULT_VALUE"),
        }
    else:
        identity.mail_from_attributes = None
    return "{}"


sesv2_responses.SESV2Response.put_email_identity_mail_from_attributes = _put_mail_from

from moto.sesv2 import urls as sesv2_urls  # noqa: E402

sesv2_urls.url_paths["{0}/v2/email/identities/(?P<EmailIdentity>[^/]+)/mail-from$"] = (
    sesv2_responses.SESV2Response.dispatch
)

from moto.route53 import models as route53_models  # noqa: E402
from moto.route53.exceptions import InvalidInput  # noqa: E402

_original_change = route53_models.Route53Backend.change_resource_record_sets


def _change_unless_refused(self, zoneid, change_list):
    zone = self.get_hosted_zone(zoneid)
    if zone.comment == "refuse-changes":
        raise InvalidInput("Invalid request: this hosted zone refuses changes (test fault)")
    for change in change_list:
        if change["Action"] != "CREATE":
            continue
        wanted = change["ResourceRecordSet"]
        exists = any(
            rrset.name.strip(".") == wanted["Name"].strip(".") and rrset.type == wanted["Type"]
            for rrset in zone.rrsets
        )
        while not exists and change in zone.rr_changes:
            zone.rr_changes.remove(change)
    return _original_change(self, zoneid, change_list)


route53_models.Route53Backend.change_resource_record_sets = _change_unless_refused

from moto.server import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
