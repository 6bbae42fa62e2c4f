"""moto in server mode, for the tests, with four fixes and one fault switch.

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

The fourth fix: moto 5.2.5 lacks SES v2's PutEmailIdentityDkimSigningAttributes, and answers a
BYODKIM identity (one made with a selector and private key) as if SES made its keys. The
launcher adds the operation and answers as SES documents BYODKIM: DkimAttributes with
SigningAttributesOrigin EXTERNAL and the selector in Tokens. After a change of key the
status is PENDING (SES checks the new key's record before it signs with it; the test DNS is
not what moto would look at, so it stays PENDING).

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


def _byodkim_selector(identity):
    attributes = identity.dkim_signing_attributes
    if isinstance(attributes, dict):
        return attributes.get("DomainSigningSelector")
    return None


def _response_with_mail_from_and_byodkim(self):
    response = _original_response(self)
    attributes = getattr(self, "mail_from_attributes", None)
    if attributes:
        response["MailFromAttributes"] = attributes
    selector = _byodkim_selector(self)
    if selector:
        response["DkimAttributes"] = dict(
            self.dkim_attributes, SigningAttributesOrigin="EXTERNAL", Tokens=[selector]
        )
    return response


ses_models.EmailIdentity.get_response_object = property(_response_with_mail_from_and_byodkim)

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


def _put_dkim_signing(self):
    # PUT /v2/email/identities/{EmailIdentity}/dkim/signing
    name = unquote(self.path.split("?")[0].rstrip("/").split("/")[-3])
    identity = self.sesv2_backend.get_email_identity(email_identity=name)
    body = json.loads(self.body or "{}")
    if body.get("SigningAttributesOrigin") == "EXTERNAL":
        signing = body.get("SigningAttributes") or {}
        identity.dkim_signing_attributes = {
            "DomainSigningSelector": signing.get("DomainSigningSelector"),
            "DomainSigningPrivateKey": signing.get("DomainSigningPrivateKey"),
        }
        identity.dkim_attributes["SigningEnabled"] = True
        identity.dkim_attributes["Status"] = "PENDING"
        tokens = [signing.get("DomainSigningSelector")]
    else:
        identity.dkim_signing_attributes = None
        identity.dkim_attributes["SigningAttributesOrigin"] = "AWS_SES"
        tokens = []
    return json.dumps({"DkimStatus": identity.dkim_attributes["Status"], "DkimTokens": tokens})


sesv2_responses.SESV2Response.put_email_identity_dkim_signing_attributes = _put_dkim_signing

from moto.sesv2 import urls as sesv2_urls  # noqa: E402

for _tail in ("mail-from", "dkim/signing"):
    sesv2_urls.url_paths["{0}/v2/email/identities/(?P<EmailIdentity>[^/]+)/" + _tail + "$"] = (
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
