"""The portal's two languages: every string people read, and which language a request gets.

Albanian is the default; `?lang=en` (or `?lang=sq`) on any page switches and is remembered in the
session. The portal is a separate app from the provider, small enough for a dictionary instead
of Flask-Babel's catalogues. Both languages must have the same keys: checked at start-up.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, request, session

LANGUAGES = ("sq", "en")
DEFAULT_LANGUAGE = "sq"
SESSION_KEY = "lang"

STRINGS: dict[str, dict[str, str]] = {
    "sq": {
        "portal_name": "e-Albania",
        "portal_tagline": "Shërbimet elektronike",
        "menu_label": "Menyja kryesore",
        "menu_home": "Kryesore",
        "menu_eservices": "E-shërbime",
        "menu_info": "Shërbime informative",
        "menu_help": "Ndihmë dhe suport",
        "sign_in": "Hyr",
        "sign_out": "Dil",
        "register_business": "Regjistro një biznes",
        "my_account": "Llogaria ime",
        "welcome": "Mirë se vini, {name}",
        "signed_out": "Dolët nga llogaria.",
        "switch_language": "English",
        "switch_language_label": "Read this page in English",
        "search_label": "Kërkoni një shërbim",
        "search_placeholder": "kërko shërbimin",
        "search_button": "Kërko",
        "more": "Të tjera...",
        "home_title": "Shërbimet elektronike të shtetit shqiptar",
        "home_slogan": "Portali lidhës me çdo institucion për gjithçka që ke nevojë!",
        "home_anonymous": "Shfletoni lirisht shërbimet; kur hapni një shërbim do t'ju kërkohet "
        "të identifikoheni.",
        "home_citizen": "Shfaqen shërbimet për qytetarët.",
        "home_business": "Shfaqen shërbimet për bizneset.",
        "services_one": "{count} shërbim",
        "services_many": "{count} shërbime",
        "eservices_intro": "Të gjitha shërbimet elektronike, sipas kategorive.",
        "category_empty": "Në këtë kategori nuk ka shërbime për llogarinë tuaj.",
        "search_title": "Kërkimi",
        "search_results": "Rezultatet për „{query}“",
        "search_none": "Nuk u gjet asnjë shërbim për „{query}“.",
        "search_empty": "Shkruani emrin e shërbimit që kërkoni.",
        "agency": "Institucioni",
        "category": "Kategoria",
        "audience": "Për kë është",
        "audience_citizen": "Qytetarët",
        "audience_business": "Bizneset",
        "audience_both": "Qytetarët dhe bizneset",
        "portal_code": "Kodi i shërbimit në e-Albania",
        "open_service": "Hap shërbimin",
        "opens_at_agency": "Shërbimi ofrohet në faqen e institucionit. Do të hyni atje pa u "
        "identifikuar sërish: identifikimi juaj në portal vlen edhe atje.",
        "opens_on_ealbania": "Ky shërbim hapet në portalin e-Albania (e-albania.al).",
        "public_description": "Përshkrimi i shërbimit në e-albania.al",
        "only_for_citizen": "Ky shërbim është vetëm për qytetarët. Hyni me NID-in tuaj për ta "
        "përdorur.",
        "only_for_business": "Ky shërbim është vetëm për bizneset. Hyni me NIPT-in e biznesit për "
        "ta përdorur.",
        "back_home": "Kthehuni te faqja kryesore",
        "not_found_title": "Faqja nuk u gjet",
        "not_found_body": "Faqja ose shërbimi që kërkuat nuk ekziston.",
        "error_title": "Identifikimi nuk u krye",
        "error_detail": "Detaj teknik",
        "error_access_denied": "Nuk lejuat ndarjen e të dhënave me portalin, prandaj nuk u "
        "identifikuat.",
        "error_login_required": "Duhet të identifikoheni përsëri.",
        "error_consent_required": "Duhet të jepni pëlqimin për ndarjen e të dhënave.",
        "error_mismatching_state": "Kërkesa e hyrjes ka skaduar ose nuk është e vlefshme. "
        "Provoni sërish.",
        "error_temporarily_unavailable": "Shërbimi i identifikimit nuk përgjigjet. Provoni pas "
        "pak.",
        "error_default": "Identifikimi nuk u krye. Provoni sërish.",
        "info_title": "Shërbime informative",
        "info_intro": "Informacion për shërbimet e portalit: cili institucion ofron secilin "
        "shërbim dhe për kë është. Për ta lexuar nuk nevojitet identifikimi.",
        "info_seal_title": "Dokumentet me vulë elektronike",
        "info_seal_body": "Dokumentet që lëshohen përmes portalit me vulë elektronike kanë të "
        "njëjtën vlerë ligjore si dokumentet në letër me vulë të njomë (VKM nr. 495, datë "
        "13.09.2017). Mund t'i printoni me një printer të zakonshëm.",
        "info_accounts_title": "Qytetarët dhe bizneset",
        "info_accounts_body": "Qytetarët hyjnë me NID-in (numrin personal), bizneset me NIPT-in. "
        "Secili sheh shërbimet që i përkasin; shërbimet për të dy llojet shfaqen për të gjithë.",
        "info_agencies_title": "Institucionet dhe shërbimet e tyre",
        "help_title": "Ndihmë dhe suport",
        "help_signin_title": "Si të hyni në llogari",
        "help_signin_body": "Klikoni „Hyr“. Zgjidhni nëse hyni si qytetar (me NID) apo si biznes "
        "(me NIPT), vendosni fjalëkalimin dhe më pas kodin 6-shifror që ju dërgohet me SMS dhe "
        "e-mail.",
        "help_password_title": "Keni harruar fjalëkalimin?",
        "help_password_body": "Vendosni një fjalëkalim të ri me kodin që ju dërgohet dhe me "
        "përgjigjen e pyetjes së sigurisë.",
        "help_password_link": "Rivendosni fjalëkalimin",
        "help_business_title": "Regjistrimi i një biznesi",
        "help_business_body": "Regjistroni biznesin me NIPT-in, emrin e tij dhe të dhënat e "
        "administratorit. Më pas hyni me NIPT-in e biznesit për shërbimet e bizneseve.",
        "help_services_title": "Si përdoret një shërbim",
        "help_services_body": "Gjeni shërbimin me kërkim ose sipas kategorive dhe hapeni. "
        "Shërbimet shfaqen sipas llojit të llogarisë. Disa shërbime ofrohen në faqen e "
        "institucionit, ku hyni pa u identifikuar sërish.",
        "help_signout_title": "Dalja nga llogaria",
        "help_signout_body": "Klikoni „Dil“: dilni njëherësh nga portali dhe nga shërbimi i "
        "identifikimit. Edhe faqet e institucioneve ku hytë me këtë identifikim njoftohen që "
        "seanca juaj ka mbaruar.",
        "help_language_title": "Gjuha",
        "help_language_body": "Portali është në shqip. Klikoni „English“ lart për ta lexuar në "
        "anglisht.",
    },
    "en": {
        "portal_name": "e-Albania",
        "portal_tagline": "Electronic services",
        "menu_label": "Main menu",
        "menu_home": "Home",
        "menu_eservices": "E-services",
        "menu_info": "Information services",
        "menu_help": "Help and support",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "register_business": "Register a business",
        "my_account": "My account",
        "welcome": "Welcome, {name}",
        "signed_out": "You have signed out.",
        "switch_language": "Shqip",
        "switch_language_label": "Lexojeni këtë faqe në shqip",
        "search_label": "Search for a service",
        "search_placeholder": "search for a service",
        "search_button": "Search",
        "more": "More...",
        "home_title": "Electronic services of the Albanian state",
        "home_slogan": "The portal that connects you with every institution, for everything "
        "you need!",
        "home_anonymous": "Browse the services freely; opening one asks you to sign in.",
        "home_citizen": "Showing the services for citizens.",
        "home_business": "Showing the services for businesses.",
        "services_one": "{count} service",
        "services_many": "{count} services",
        "eservices_intro": "All electronic services, by category.",
        "category_empty": "This category has no services for your kind of account.",
        "search_title": "Search",
        "search_results": "Results for “{query}”",
        "search_none": "No service matches “{query}”.",
        "search_empty": "Type the name of the service you are looking for.",
        "agency": "Institution",
        "category": "Category",
        "audience": "Who it is for",
        "audience_citizen": "Citizens",
        "audience_business": "Businesses",
        "audience_both": "Citizens and businesses",
        "portal_code": "e-Albania service code",
        "open_service": "Open the service",
        "opens_at_agency": "The service is provided on the institution's own site. You will "
        "arrive there already signed in: your sign-in on the portal is valid there too.",
        "opens_on_ealbania": "This service opens on the e-Albania portal (e-albania.al).",
        "public_description": "The service's description on e-albania.al",
        "only_for_citizen": "This service is for citizens only. Sign in with your NID to use it.",
        "only_for_business": "This service is for businesses only. Sign in with the business's "
        "NIPT to use it.",
        "back_home": "Back to the home page",
        "not_found_title": "Page not found",
        "not_found_body": "The page or service you asked for does not exist.",
        "error_title": "Sign-in failed",
        "error_detail": "Technical detail",
        "error_access_denied": "You did not allow sharing your data with the portal, so you were "
        "not signed in.",
        "error_login_required": "You need to sign in again.",
        "error_consent_required": "You need to consent to sharing your data.",
        "error_mismatching_state": "The sign-in request has expired or is not valid. Please try "
        "again.",
        "error_temporarily_unavailable": "The sign-in service does not answer. Please try again "
        "shortly.",
        "error_default": "Sign-in did not complete. Please try again.",
        "info_title": "Information services",
        "info_intro": "Information about the portal's services: which institution provides each "
        "one and whom it is for. No sign-in is needed to read it.",
        "info_seal_title": "Documents with an electronic seal",
        "info_seal_body": "Documents issued through the portal with an electronic seal have the "
        "same legal value as paper documents with a wet stamp (Council of Ministers Decision "
        "no. 495 of 13.09.2017). You may print them on an ordinary printer.",
        "info_accounts_title": "Citizens and businesses",
        "info_accounts_body": "Citizens sign in with their NID (personal number), businesses with "
        "their NIPT. Each sees the services meant for them; services for both are shown to all.",
        "info_agencies_title": "Institutions and their services",
        "help_title": "Help and support",
        "help_signin_title": "How to sign in",
        "help_signin_body": "Choose “Sign in”. Say whether you sign in as a citizen (with your "
        "NID) or as a business (with its NIPT), enter your password, then the 6-digit code sent "
        "to you by SMS and e-mail.",
        "help_password_title": "Forgot your password?",
        "help_password_body": "Set a new password with the code sent to you and the answer to "
        "your security question.",
        "help_password_link": "Reset your password",
        "help_business_title": "Registering a business",
        "help_business_body": "Register the business with its NIPT, its name and its "
        "administrator's details. Then sign in with the business's NIPT for the business "
        "services.",
        "help_services_title": "Using a service",
        "help_services_body": "Find the service by searching or by category, and open it. The "
        "services shown depend on the kind of account. Some are provided on the institution's "
        "own site, where you arrive already signed in.",
        "help_signout_title": "Signing out",
        "help_signout_body": "Choose “Sign out”: you leave the portal and the sign-in service at "
        "once. Institutions' sites you entered with this sign-in are told that your session "
        "has ended.",
        "help_language_title": "Language",
        "help_language_body": "The portal is in Albanian by default. Choose “Shqip” at the top to "
        "read it in Albanian again.",
    },
}


def check_strings() -> None:
    """Refuse to start when one language lacks a string the other has."""
    sq, en = (set(STRINGS[language]) for language in LANGUAGES)
    if sq != en:
        raise RuntimeError(f"portal strings missing in one language: {sorted(sq ^ en)}")


def language() -> str:
    """The language of this request: the session's choice, else Albanian."""
    chosen = session.get(SESSION_KEY)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def text(key: str, **values) -> str:
    """A string in the request's language; `values` fill its {placeholders}."""
    string = STRINGS[language()][key]
    return string.format(**values) if values else string


def count_of_services(count: int) -> str:
    return text("services_one" if count == 1 else "services_many", count=count)


def other_language() -> str:
    return "en" if language() == "sq" else "sq"


def switch_url() -> str:
    """This page with the other language: the query (a search, say) is kept."""
    args = request.args.to_dict(flat=False)
    args[SESSION_KEY] = [other_language()]
    return f"{request.path}?{urlencode(args, doseq=True)}"


def clear_session_keeping_language() -> None:
    """Signing in or out starts a new session, but the person keeps the language they chose."""
    chosen = session.get(SESSION_KEY)
    session.clear()
    if chosen in LANGUAGES:
        session[SESSION_KEY] = chosen


def init_app(app: Flask) -> None:
    check_strings()

    @app.before_request
    def remember_requested_language() -> None:
        requested = request.args.get(SESSION_KEY)
        if requested in LANGUAGES and session.get(SESSION_KEY) != requested:
            session[SESSION_KEY] = requested

    app.add_template_global(text, "t")
    app.add_template_global(language)
    app.add_template_global(count_of_services)
    app.add_template_global(switch_url)
