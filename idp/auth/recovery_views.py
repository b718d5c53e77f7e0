"""Forgotten password: identifier, security question, one-time code, new password.

Every step answers the same way whether or not the account exists: an unknown identifier gets a
stable decoy question, its wrong answers go through the same lockout counters and cost the same
one argon2id verification, and nothing is sent until an answer is right (which an unknown
identifier's never is). The identifier typed lives in a "reset-question" transaction on the
server, known to this browser only by the transaction id in its session, never in a URL; the
right answer replaces it with a "reset" transaction whose code goes to the phone and e-mail.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from .. import audit
from ..models import User, db
from . import address_limits, codes, lockout, notices, password_policy, refusals, sessions
from .identifiers import normalize
from .login import account_kind, find_account
from .recovery_forms import NewPasswordForm, RecoveryStartForm, SecurityAnswerForm
from .security_questions import QUESTIONS, answer_matches, question_for

bp = Blueprint("recovery", __name__, url_prefix="/recovery")

QUESTION_STEP = "reset-question"
RESET = "reset"


@bp.route("", methods=["GET", "POST"])
def start():
    form = RecoveryStartForm()
    if form.validate_on_submit():
        identifier = normalize(form.nid.data)
        kind = account_kind(identifier, form.account_type.data)
        # Each start keeps a transaction and opens the way to argon2id verifications.
        until = address_limits.exceeded("recovery", current_app.config["RECOVERY_PER_ADDRESS_HOUR"])
        if until is not None:
            audit.record("recovery.start", "throttled", account=identifier, reason="address")
            return address_limits.refused(until)
        # A locked account may recover (that is how its owner gets back in); only wrong
        # answers lock recovery itself, and the question page says so.
        codes.start(QUESTION_STEP, identifier, kind, steps=[])
        return redirect(url_for("recovery.question"), code=303)
    status = 400 if form.errors else 200
    return render_template("recovery_start.html", form=form), status


@bp.route("/question", methods=["GET", "POST"])
def question():
    transaction = codes.current(QUESTION_STEP)
    if transaction is None:
        return render_template("recovery_ended.html"), 400
    identifier, kind = transaction.identifier, transaction.kind
    user = _recoverable(find_account(identifier, kind))
    form = SecurityAnswerForm()
    error = None
    if form.validate_on_submit():
        # Wrong answers have a counter of their own: they lock recovery, not the sign-in, so
        # guessing answers cannot keep the owner out, and a locked account can still recover.
        attempt = lockout.begin(kind, identifier, lockout.ANSWER)
        if not attempt.allowed:
            audit.record("recovery.answer", attempt.denial.reason.value, account=identifier)
            return refusals.page(attempt.denial)
        try:
            matches = answer_matches(user, form.answer.data)
        except BaseException:
            lockout.give_back(attempt)
            raise
        if matches:
            lockout.succeeded(attempt)
            audit.record("recovery.answer", "ok", account=identifier)
            return _send_reset_code(user)
        audit.record("recovery.answer", "failed", account=identifier)
        denial = lockout.failed(attempt)
        if denial is not None:
            return refusals.page(denial)
        # One message whether the account exists or not.
        error = _("This answer is not the one we have. Check it and try again.")
    status = 400 if error or form.errors else 200
    return render_template(
        "recovery_question.html",
        form=form,
        question=QUESTIONS[question_for(user, identifier)],
        error=error,
    ), status


def _recoverable(user: User | None) -> User | None:
    """A disabled account is treated as an unknown one: decoy question, no answer accepted."""
    return None if user is None or user.disabled else user


def _send_reset_code(user: User):
    return codes.begin_for_account(RESET, user)


def reset_message() -> tuple[str, str]:
    """(text, subject) of a recovery code, in the page's language."""
    site = current_app.config["SITE_NAME"]
    text = _(
        "Your %(site)s code to reset your password is {code}. It expires in {minutes} minutes. "
        "If you did not ask for it, do not share it with anyone and write to %(support)s.",
        site=site,
        support=current_app.config["SUPPORT_EMAIL"],
    )
    return text, _("Reset your %(site)s password", site=site)


@codes.on_complete(RESET, message=reset_message)
def complete_reset(transaction: codes.Transaction):
    """The code came back: this browser may now choose the new password."""
    transaction.data["code_verified"] = True
    codes.save(transaction)
    return redirect(url_for("recovery.password"), code=303)


@bp.route("/password", methods=["GET", "POST"])
def password():
    transaction = codes.current(RESET)
    # No skipping steps: only a reset whose code was confirmed in this browser gets here.
    if transaction is None or not transaction.data.get("code_verified"):
        return render_template("recovery_ended.html"), 400
    user = _recoverable(db.session.get(User, transaction.user_id))
    if user is None:
        codes.end()
        return render_template("recovery_ended.html"), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        problem = password_policy.check_configured(
            form.password.data, password_policy.personal_words(user)
        )
        if problem is None:
            reset_password(user, form.password.data)
            return render_template("recovery_done.html")
        form.password.errors.append(str(problem.message))
    status = 400 if form.errors else 200
    return render_template("recovery_password.html", form=form), status


def reset_password(user: User, new_password: str) -> None:
    """Set the new password and end everything the old one may have opened."""
    user.password_hash = current_app.extensions["idp.passwords"].hash(new_password)
    # Every session and every token family ends: refresh and access tokens stop at once.
    sessions.end_everywhere(user)
    lockout.unlock(user.kind, user.identifier, by="reset")
    codes.end()
    audit.record("password.reset", "ok", account=user.identifier)
    _send_notice(user)


def _send_notice(user: User) -> None:
    config = current_app.config
    # The owner's language is not known; the default one, as for other notices.
    with force_locale(config["LOCALES"][0]):
        subject = _("Your %(site)s password has been changed", site=config["SITE_NAME"])
        text = _(
            "The password of your account was reset with your security question and a code "
            "sent to you. Everywhere you were signed in, you have been signed out. If this was "
            "not you, write to %(support)s at once.",
            support=config["SUPPORT_EMAIL"],
        )
    notices.send(user, subject, text, "notice.password_reset")
