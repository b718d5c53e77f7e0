"""The new-password policy of NIST SP 800-63B-4 §3.1.1.2: length and a blocklist, no composition
rules."""

from __future__ import annotations

import unicodedata

import pytest

from idp.auth.password_policy import COMMON_PASSWORDS, check_password

MIN_LENGTH = 15
MAX_LENGTH = 64
PERSON = ("J00101999W", "Rudina", "Mëhilli", "rudina.mehilli")  # NID, names, e-mail local part


def problem_with(password: str, context=()) -> str | None:
    problem = check_password(
        password, min_length=MIN_LENGTH, max_length=MAX_LENGTH, context=context
    )
    return problem and problem.code


def test_long_passphrase_with_spaces_and_albanian_letters_is_accepted():
    passphrase = "Një fjalë e gjatë me hapësira dhe ç dhe ë 2026"
    assert problem_with(passphrase) is None
    assert problem_with(passphrase.ljust(MAX_LENGTH, "!")) is None


def test_emoji_password_of_sufficient_length_is_accepted():
    assert problem_with("🐉🌵🎻🚲🧀🌋🦉🪁🍋🎈🧭🪐🐙🌈🦔") is None


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "kx9mq2vlp0zr7ab", "KX9MQ2VLP0ZR7AB", "Kx9#mQ2!vLp0Zr7$"],
)
def test_no_composition_rules_only_length_matters(password):
    assert problem_with(password) is None


def test_one_character_short_is_too_short():
    assert problem_with("kx9mq2vlp0zr7ab") is None
    assert problem_with("kx9mq2vlp0zr7a") == "too_short"


def test_one_character_over_max_length_is_too_long():
    accepted = "Një fjalë e gjatë me hapësira dhe ç dhe ë 2026 ".ljust(MAX_LENGTH, "x")
    assert problem_with(accepted) is None
    assert problem_with(accepted + "x") == "too_long"


def test_length_counts_code_points_after_nfkc_normalisation():
    # "ë" typed as "e" + combining diaeresis is two code points, one once normalised.
    decomposed = unicodedata.normalize("NFD", "këngë gëzimi")
    assert len(decomposed) == MIN_LENGTH
    assert problem_with(decomposed) == "too_short"

    long_decomposed = unicodedata.normalize("NFD", "ë".join(["këngë gëzimi"] * 5))
    assert len(long_decomposed) > MAX_LENGTH
    assert problem_with(long_decomposed) is None


@pytest.mark.parametrize("password", ["password123", "password1", "iloveyou", "qwerty123"])
def test_breached_passwords_from_zxcvbn_are_refused_as_common(password):
    assert password in COMMON_PASSWORDS
    problem = check_password(password, min_length=8, max_length=MAX_LENGTH)
    assert problem is not None and problem.code == "common"


@pytest.mark.parametrize(
    "password",
    ["shqiperia2024", "Shqipëria2024", "  Fjalëkalimi1234 ", "FJALEKALIMI2025!", "e-albania123"],
)
def test_albanian_passwords_are_refused_as_common_with_or_without_e_and_c(password):
    problem = check_password(password, min_length=8, max_length=MAX_LENGTH)
    assert problem is not None and problem.code == "common"


@pytest.mark.parametrize("password", ["Password1!", "arben1990", "Tirana2026!", "#1dragon"])
def test_common_password_with_a_few_digits_or_symbols_is_refused_as_common(password):
    problem = check_password(password, min_length=8, max_length=MAX_LENGTH)
    assert problem is not None and problem.code == "common"


def test_common_password_padded_with_a_run_is_refused_as_common():
    assert problem_with("password12345678") == "common"
    assert problem_with("tirana 123456789") == "common"
    assert problem_with("!!!!!!!!!dragon") == "common"


def test_common_word_with_unpredictable_padding_is_accepted():
    assert problem_with("dragon 48213907 blue") is None


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "zyxwvutsrqponmlk",
        "9876543210987654",
        "poiuztrewqpoiuzt",  # the Albanian QWERTZ top row, backwards
        "iloveyou iloveyou",
        "1111111111222222",
    ],
)
def test_repeated_characters_and_simple_runs_are_refused_as_repetitive(password):
    assert password not in COMMON_PASSWORDS
    assert problem_with(password) == "repetitive"


@pytest.mark.parametrize("password", ["J00101999W", "j00101999w", "Mehilli1990!", "Rudina.Mehilli"])
def test_identifier_or_name_with_digits_and_punctuation_is_refused(password):
    problem = check_password(password, min_length=8, max_length=MAX_LENGTH, context=PERSON)
    assert problem is not None and problem.code == "contains_identifier"


def test_password_mostly_made_of_the_persons_words_is_refused():
    assert problem_with("J00101999W-abcde", context=PERSON) == "contains_identifier"
    assert problem_with("Rudina Mëhilli 1990!!", context=PERSON) == "contains_identifier"


def test_name_inside_a_longer_passphrase_is_accepted():
    assert problem_with("Rudina went to the market at dawn", context=PERSON) is None


def test_context_is_matched_without_albanian_letters():
    assert problem_with("Gezim Krasniqi 77", context=("Gëzim", "Krasniqi")) == (
        "contains_identifier"
    )


def test_common_password_list_holds_zxcvbn_and_the_albanian_words():
    assert len(COMMON_PASSWORDS) > 30_000
    assert {"123456", "qwerty", "fjalekalimi", "shqiperia", "tirana"} <= COMMON_PASSWORDS


def test_message_is_translated_when_rendered_in_a_request(app):
    problem = check_password("short", min_length=MIN_LENGTH, max_length=MAX_LENGTH)

    with app.test_request_context("/?lang=en"):
        assert str(problem.message) == "Use at least 15 characters."
    with app.test_request_context("/"):  # Albanian, the default
        assert "15" in str(problem.message)
