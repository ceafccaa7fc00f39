"""Policy versions, consent at sign-up, the children's and the biometric consents."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kezekshi.accounts.models import User
from kezekshi.accounts.services import issue_api_token
from kezekshi.conftest import last_sms_code
from kezekshi.core.errors import ServiceError
from kezekshi.people import services as people_services
from kezekshi.people.models import Pupil
from kezekshi.privacy import ledger, services
from kezekshi.privacy.models import (
    AppendOnlyError,
    AuditEntry,
    BiometricErasure,
    Consent,
    Kind,
    PolicyVersion,
)

pytestmark = pytest.mark.django_db
PHONE = "+77012223344"
OPERATOR = "ТОО «Kezekshi»"


@pytest.fixture
def policy(school: Any) -> PolicyVersion:
    draft = services.draft_policy(operator_name=OPERATOR, operator_bin=school.bin)
    return services.publish_policy(policy=draft, by=None)


@pytest.fixture
def parent(pupil: Pupil) -> User:
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Гүлнар", phone=PHONE, relation="mother"
    )
    user = User.objects.create_user(phone=PHONE)
    people_services.link_guardian_accounts(user=user)
    return user


@pytest.fixture
def consented(policy: PolicyVersion, parent: User) -> User:
    """The parent after consenting to the policy for themselves and the child."""
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    return parent


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="kezekshi.accounts.backends.PhoneOrEmailBackend")
    return client


def test_the_template_policy_publishes_with_a_hash(policy: PolicyVersion) -> None:
    assert policy.published_at is not None
    assert len(policy.content_hash) == 64
    assert services.current_policy() == policy
    assert OPERATOR in policy.text_kk and "Трансшекаралық беру" in policy.text_kk


@pytest.mark.parametrize(
    ("language", "heading", "item"),
    [
        ("ru", "Трансграничная передача", "cross_border"),
        ("kk", "Үшінші тұлғаларға беру", "third_parties"),
        ("en", "Term of consent", "term"),
        ("en", "List of personal data", "data_list"),
        ("kk", "Жалпыға қолжетімді дереккөздерде жариялау", "publication"),
    ],
)
def test_a_policy_lacking_a_required_item_is_refused(
    school: Any, language: str, heading: str, item: str
) -> None:
    draft = services.draft_policy(operator_name=OPERATOR, operator_bin=school.bin)
    field = f"text_{language}"
    setattr(draft, field, getattr(draft, field).replace(heading, "…"))
    draft.save()
    with pytest.raises(ServiceError) as error:
        services.publish_policy(policy=draft, by=None)
    assert error.value.code == "policy_incomplete"
    assert {"language": language, "item": item} in error.value.extra["missing"]
    assert services.current_policy() is None


def test_a_policy_without_the_operators_bin_is_refused(school: Any) -> None:
    draft = services.draft_policy(operator_name=OPERATOR, operator_bin=school.bin)
    draft.text_en = draft.text_en.replace(school.bin, "")
    draft.save()
    with pytest.raises(ServiceError) as error:
        services.publish_policy(policy=draft, by=None)
    assert {"language": "en", "item": "operator"} in error.value.extra["missing"]


def test_a_published_policy_cannot_be_published_again(policy: PolicyVersion) -> None:
    with pytest.raises(ServiceError) as error:
        services.publish_policy(policy=policy, by=None)
    assert error.value.code == "policy_published"


def test_a_new_parent_must_consent_before_anything_works(
    policy: PolicyVersion, parent: User, pupil: Pupil
) -> None:
    client = signed_in(parent)
    response = client.get("/app/")
    assert response.status_code == 302 and response["Location"].startswith("/app/consent/")
    api = client.get("/api/v1/me")
    assert api.status_code == 403 and api.json()["code"] == "consent_required"
    feed = client.get("/api/v1/notifications/me/notifications")
    assert feed.status_code == 403 and feed.json()["code"] == "consent_required"
    page = client.get("/app/consent/", HTTP_ACCEPT_LANGUAGE="ru")
    assert "Трансграничная передача" in page.content.decode()
    assert pupil.person.first_name in page.content.decode()

    unticked = client.post("/app/consent/", {"policy": policy.pk})
    assert unticked.status_code == 422
    assert not Consent.objects.exists()

    done = client.post(
        "/app/consent/", {"policy": policy.pk, "agree": "yes"}, HTTP_USER_AGENT="TestPhone/1.0"
    )
    assert done.status_code == 302
    assert client.get("/app/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    own, child = Consent.objects.order_by("id")
    assert own.subject_user == parent and own.policy_hash == policy.content_hash
    assert own.channel == Consent.Channel.SMS_CHECKBOX and own.phone == PHONE
    assert own.user_agent == "TestPhone/1.0" and own.ip == "127.0.0.1"
    assert child.subject_person == pupil.person and child.as_representative
    assert child.school == pupil.school


def test_consenting_twice_records_nothing_new(policy: PolicyVersion, parent: User) -> None:
    context = services.Context(phone=PHONE)
    assert len(services.accept_policy(user=parent, policy=policy, context=context)) == 2
    assert services.accept_policy(user=parent, policy=policy, context=context) == []


def test_a_new_policy_version_asks_again(school: Any, policy: PolicyVersion, parent: User) -> None:
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    assert services.has_current_consent(parent)
    newer = services.draft_policy(operator_name=OPERATOR, operator_bin=school.bin)
    services.publish_policy(policy=newer, by=None)
    assert not services.has_current_consent(parent)
    with pytest.raises(ServiceError) as error:
        services.accept_policy(user=parent, policy=policy, context=services.Context())
    assert error.value.code == "policy_not_current"
    assert signed_in(parent).get("/app/").status_code == 302


def test_a_child_linked_later_needs_its_own_consent(
    school: Any, school_class: Any, policy: PolicyVersion, parent: User
) -> None:
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    younger = people_services.create_pupil(
        school=school, last_name="Сейтқали", first_name="Нұрай", school_class=school_class
    )
    people_services.add_guardian(
        pupil=younger, last_name="Сейтқали", first_name="Гүлнар", phone=PHONE, relation="mother"
    )
    assert not services.has_current_consent(parent)


def test_the_sign_up_flow_ends_on_the_consent_page(policy: PolicyVersion, parent: User) -> None:
    client = Client()
    client.post("/app/code/", {"phone": PHONE})
    response = client.post("/app/verify/", {"phone": PHONE, "code": last_sms_code(PHONE)})
    assert client.get(response["Location"])["Location"].startswith("/app/consent/")


def test_the_ledger_cannot_be_changed_through_the_application(
    policy: PolicyVersion, parent: User
) -> None:
    row = services.accept_policy(user=parent, policy=policy, context=services.Context())[0]
    row.decision = Consent.Decision.WITHDRAW
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        Consent.objects.filter(pk=row.pk).delete()
    assert ledger.verify(Consent) == []


def test_biometrics_are_off_until_a_representative_allows_them(
    consented: User, pupil: Pupil
) -> None:
    parent = consented
    state = services.biometric_state(pupil.person, Kind.FACE)
    assert not state.allowed and state.reason == "no_consent"
    services.decide_biometrics(
        user=parent, child=pupil.person, kind=Kind.FACE, grant=True, context=services.Context()
    )
    assert services.biometric_state(pupil.person, Kind.FACE).allowed
    # Each kind separately.
    assert not services.biometric_state(pupil.person, Kind.FINGERPRINT).allowed


def test_withdrawing_stops_processing_and_orders_erasure(consented: User, pupil: Pupil) -> None:
    parent = consented
    for grant in (True, False):
        services.decide_biometrics(
            user=parent, child=pupil.person, kind=Kind.FACE, grant=grant, context=services.Context()
        )
    assert services.biometric_state(pupil.person, Kind.FACE).reason == "withdrawn"
    order = BiometricErasure.objects.get()
    assert order.person == pupil.person and order.kind == Kind.FACE and order.done_at is None


def test_the_childs_refusal_overrides_and_another_representative_can_object(
    consented: User, pupil: Pupil, make_user: Any, school: Any, policy: PolicyVersion
) -> None:
    parent = consented
    services.decide_biometrics(
        user=parent, child=pupil.person, kind=Kind.FACE, grant=True, context=services.Context()
    )
    staff = make_user()
    services.record_child_will(staff=staff, child=pupil.person, kind=Kind.FACE, refuses=True)
    assert services.biometric_state(pupil.person, Kind.FACE).reason == "child_refused"
    services.record_child_will(staff=staff, child=pupil.person, kind=Kind.FACE, refuses=False)
    assert services.biometric_state(pupil.person, Kind.FACE).allowed

    father_phone = "+77013334455"
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Ерлан", phone=father_phone, relation="father"
    )
    father = User.objects.create_user(phone=father_phone)
    people_services.link_guardian_accounts(user=father)
    services.accept_policy(user=father, policy=policy, context=services.Context())
    services.decide_biometrics(
        user=father, child=pupil.person, kind=Kind.FACE, grant=False, context=services.Context()
    )
    assert not services.biometric_state(pupil.person, Kind.FACE).allowed


def test_only_a_legal_representative_decides_and_refusals_are_logged(
    pupil: Pupil, other_school: Any
) -> None:
    stranger = User.objects.create_user(phone="+77019998877")
    with pytest.raises(ServiceError) as error:
        services.decide_biometrics(
            user=stranger,
            child=pupil.person,
            kind=Kind.FACE,
            grant=True,
            context=services.Context(),
        )
    assert error.value.code == "not_representative" and error.value.status == 403
    refusal = AuditEntry.objects.get(action=AuditEntry.Action.REFUSED)
    assert refusal.person == pupil.person and refusal.actor == stranger
    assert not Consent.objects.exists()

    # A guardian who is not a legal representative (e.g. a grandmother who picks up).
    people_services.add_guardian(
        pupil=pupil, last_name="Сейтқали", first_name="Сара", phone="+77014445566",
        relation="grandparent", is_legal_representative=False,
    )  # fmt: skip
    grandmother = User.objects.create_user(phone="+77014445566")
    people_services.link_guardian_accounts(user=grandmother)
    with pytest.raises(ServiceError):
        services.decide_biometrics(
            user=grandmother, child=pupil.person, kind=Kind.FACE, grant=True,
            context=services.Context(),
        )  # fmt: skip


def test_a_parent_cannot_open_another_childs_biometrics_page(
    policy: PolicyVersion, parent: User, school: Any
) -> None:
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    other = people_services.create_pupil(school=school, last_name="Басқа", first_name="Бала")
    client = signed_in(parent)
    assert client.get(f"/app/children/{other.pk}/biometrics/").status_code == 404
    response = client.post(
        f"/app/children/{other.pk}/biometrics/decide/", {"kind": "face", "grant": "yes"}
    )
    assert response.status_code == 404
    assert not Consent.objects.filter(subject_person=other.person).exists()


def test_withdrawal_is_refused_while_an_obligation_is_open(
    policy: PolicyVersion, parent: User, pupil: Pupil
) -> None:
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    services.OBLIGATIONS.append(lambda user, child: "the canteen balance is not settled")
    try:
        with pytest.raises(ServiceError) as error:
            services.withdraw_consent(
                user=parent, subject_person=pupil.person, kind=Kind.PROCESSING
            )
        assert error.value.code == "obligation_open"
        assert "canteen balance" in str(error.value.message)
    finally:
        services.OBLIGATIONS.pop()
    services.decide_biometrics(
        user=parent, child=pupil.person, kind=Kind.FACE, grant=True, context=services.Context()
    )
    services.withdraw_consent(user=parent, subject_person=pupil.person, kind=Kind.PROCESSING)
    # The child's data are no longer processed on that consent: biometrics stop too…
    assert services.biometric_state(pupil.person, Kind.FACE).reason == "no_consent"
    # …but the withdrawal is a settled decision: the parent is not locked out of the app
    # for their other children, nor asked to consent for this child again.
    assert services.has_current_consent(parent)
    assert services.accept_policy(user=parent, policy=policy, context=services.Context()) == []


def test_biometrics_need_the_parents_consent_to_the_policy(
    policy: PolicyVersion, parent: User, pupil: Pupil
) -> None:
    with pytest.raises(ServiceError) as error:
        services.decide_biometrics(
            user=parent, child=pupil.person, kind=Kind.FACE, grant=True, context=services.Context()
        )
    assert error.value.code == "consent_required"
    # Withdrawing is always possible.
    services.decide_biometrics(
        user=parent, child=pupil.person, kind=Kind.FACE, grant=False, context=services.Context()
    )


def test_a_former_representative_no_longer_counts(consented: User, pupil: Pupil) -> None:
    services.decide_biometrics(
        user=consented, child=pupil.person, kind=Kind.FACE, grant=True, context=services.Context()
    )
    pupil.guardianships.update(is_legal_representative=False)
    assert not services.biometric_state(pupil.person, Kind.FACE).allowed


def test_the_policy_page_is_open_to_everyone(policy: PolicyVersion) -> None:
    page = Client().get("/app/policy/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Cross-border transfer" in page.content.decode()


def test_the_app_consents_through_the_api(
    policy: PolicyVersion, parent: User, pupil: Pupil
) -> None:
    client = Client()
    token = issue_api_token(user=parent)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=auth).json()["code"] == "consent_required"
    shown = client.get("/api/v1/privacy/policy", headers={**auth, "Accept-Language": "ru"}).json()
    assert shown["number"] == policy.number and "Трансграничная передача" in shown["text"]
    refused = client.post(
        "/api/v1/privacy/consent",
        {"policy_id": policy.pk, "agree": False},
        content_type="application/json",
        headers=auth,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "consent_not_given"
    given = client.post(
        "/api/v1/privacy/consent",
        {"policy_id": policy.pk, "agree": True},
        content_type="application/json",
        headers=auth,
    )
    assert given.json() == {"consented": True, "recorded": 2}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    face = client.post(
        f"/api/v1/privacy/children/{pupil.pk}/biometrics",
        {"kind": "face", "allow": True},
        content_type="application/json",
        headers=auth,
    )
    assert face.json() == {"kind": "face", "allowed": True, "reason": "consented"}


def test_the_api_refuses_biometrics_for_someone_elses_child(
    policy: PolicyVersion, parent: User, school: Any
) -> None:
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    other = people_services.create_pupil(school=school, last_name="Басқа", first_name="Бала")
    auth = {"Authorization": f"Bearer {issue_api_token(user=parent)}"}
    response = Client().post(
        f"/api/v1/privacy/children/{other.pk}/biometrics",
        {"kind": "face", "allow": True},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 403 and response.json()["code"] == "not_representative"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.REFUSED, person=other.person).exists()


def test_staff_record_the_childs_refusal_in_the_portal(
    parent: User, pupil: Pupil, school: Any, make_user: Any
) -> None:
    from kezekshi.accounts.roles import Role
    from kezekshi.conftest import verified_client

    services.decide_biometrics(
        user=parent, child=pupil.person, kind=Kind.FACE, grant=True, context=services.Context()
    )
    dpo = verified_client(make_user(Role.DPO, school))
    assert "biometrics" in dpo.get(f"/pupils/{pupil.pk}/").content.decode()
    page = dpo.get(f"/pupils/{pupil.pk}/biometrics/")
    assert page.status_code == 200
    dpo.post(f"/pupils/{pupil.pk}/biometrics/child/", {"kind": "face", "refuses": "yes"})
    assert services.biometric_state(pupil.person, Kind.FACE).reason == "child_refused"
    assert BiometricErasure.objects.filter(person=pupil.person, kind=Kind.FACE).exists()
    guard = verified_client(make_user(Role.GUARD, school))
    response = guard.post(
        f"/pupils/{pupil.pk}/biometrics/child/", {"kind": "face", "refuses": "no"}
    )
    assert response.status_code == 403
    assert services.biometric_state(pupil.person, Kind.FACE).reason == "child_refused"


def test_a_parent_who_withdrew_can_still_see_and_export_their_data(
    policy: PolicyVersion, parent: User
) -> None:
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    services.withdraw_consent(user=parent, kind=Kind.PROCESSING)
    client = signed_in(parent)
    assert client.get("/app/")["Location"].startswith("/app/consent/")
    assert client.get("/app/privacy/").status_code == 200
    token = issue_api_token(user=parent)
    response = Client().get(
        "/api/v1/privacy/requests", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


def test_a_missing_child_gets_the_same_answer_as_someone_elses(
    policy: PolicyVersion, consented: User
) -> None:
    auth = {"Authorization": f"Bearer {issue_api_token(user=consented)}"}
    response = Client().post(
        "/api/v1/privacy/children/999999/biometrics",
        {"kind": "face", "allow": True},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 403 and response.json()["code"] == "not_representative"


def test_the_canteen_api_of_a_child_needs_the_parents_consent(
    policy: PolicyVersion, parent: User, pupil: Pupil
) -> None:
    wallet = f"/api/v1/canteen/children/{pupil.pk}/wallet"
    token = issue_api_token(user=parent)

    by_session = signed_in(parent).get(wallet)
    by_token = Client().get(wallet, headers={"Authorization": f"Bearer {token}"})
    # a device route of the canteen API (a POS terminal, not a parent) is not the gate's
    device = signed_in(parent).get("/api/v1/canteen/terminals/1/sales")

    assert by_session.status_code == 403 and by_session.json()["code"] == "consent_required"
    assert by_token.status_code == 403 and by_token.json()["code"] == "consent_required"
    assert device.status_code == 404
    services.accept_policy(user=parent, policy=policy, context=services.Context())
    assert signed_in(parent).get(wallet).status_code == 200
