"""Every word the agency shows, in Albanian (the default) and English (``?lang=en``).

A dict rather than gettext catalogues: one small service with a few dozen strings, and the
certificate itself prints both languages side by side.
"""

from __future__ import annotations

LANGUAGES = ("sq", "en")
DEFAULT_LANGUAGE = "sq"

# Why a certificate is requested: the API accepts only these keys, and the document prints
# their labels in both languages.
PURPOSES = ("employment", "studies", "residence", "licence", "procurement")

STRINGS: dict[str, dict[str, str]] = {
    "sq": {
        "agency": "Drejtoria e Përgjithshme e Burgjeve",
        "service": "Dëshmia e Penalitetit",
        "demo": "Shërbim demonstrues: dokumentet nuk janë zyrtare.",
        "intro": "Merrni dëshminë e penalitetit si dokument PDF me vulë elektronike, "
        "pa dalë në sportel.",
        "start": "Kërkoni dëshminë",
        "sign_in_note": "Identifikoheni me llogarinë e-Albania. Shërbimi merr vetëm emrin, "
        "datëlindjen dhe numrin personal (NID).",
        "requested_by": "Kërkuesi",
        "name": "Emri dhe mbiemri",
        "nid": "Numri personal (NID)",
        "birthdate": "Datëlindja",
        "purpose": "Qëllimi",
        "confirm_text": "Konfirmoj se kërkoj dëshminë e penalitetit për veten time.",
        "confirm": "Konfirmo dhe merr dëshminë",
        "issued_title": "Dëshmia u lëshua",
        "issued_text": "Dëshmia juaj është gati, e vulosur elektronikisht nga Drejtoria e "
        "Përgjithshme e Burgjeve.",
        "reference": "Numri i referencës",
        "issued_on": "Data e lëshimit",
        "download": "Shkarko PDF-në",
        "documents": "Dokumentet e kësaj seance",
        "another": "Kërko një dëshmi tjetër",
        "sign_out": "Dilni",
        "signed_out": "Dolët nga llogaria.",
        "welcome": "Mirë se vini, {name}",
        "home": "Kthehuni në faqen kryesore",
        "error_title": "Kërkesa nuk u krye",
        "error_default": "Diçka nuk shkoi. Provoni sërish.",
        "error_access_denied": "Nuk lejuat ndarjen e të dhënave, prandaj nuk mund t'ju lëshojmë "
        "dëshminë.",
        "error_login_required": "Duhet të identifikoheni përsëri.",
        "error_mismatching_state": "Kërkesa e hyrjes ka skaduar ose nuk është e vlefshme. "
        "Provoni sërish.",
        "error_csrf": "Formulari ka skaduar. Hapeni faqen sërish dhe provoni përsëri.",
        "error_not_a_citizen": "Ky shërbim është vetëm për shtetas me numër personal (NID).",
        "error_unavailable": "Shërbimi nuk përgjigjet për momentin. Provoni pas pak.",
        "error_not_found": "Faqja nuk u gjet.",
        "technical": "Detaj teknik",
        "language": "English",
        "purpose.employment": "Për punësim",
        "purpose.studies": "Për studime",
        "purpose.residence": "Për leje qëndrimi ose vizë",
        "purpose.licence": "Për licencim profesional",
        "purpose.procurement": "Për prokurim publik",
        # The certificate (printed in both languages).
        "pdf.country": "REPUBLIKA E SHQIPËRISË",
        "pdf.title": "DËSHMI PENALITETI",
        "pdf.statement": "Nuk rezulton i/e dënuar",
        "pdf.statement_detail": "Në regjistrin e gjendjes gjyqësore nuk ka të dhëna për dënime "
        "penale për personin e mësipërm.",
        "pdf.seal": "Ky dokument është vulosur elektronikisht (PAdES) nga Drejtoria e "
        "Përgjithshme e Burgjeve. Vula verifikohet me certifikatën e saj publike.",
    },
    "en": {
        "agency": "General Directorate of Prisons",
        "service": "Certificate of criminal record",
        "demo": "Demonstration service: the documents are not official.",
        "intro": "Get your criminal record certificate as a PDF with an electronic seal, "
        "without going to a counter.",
        "start": "Request the certificate",
        "sign_in_note": "You sign in with your e-Albania account. The service receives only "
        "your name, date of birth and personal number (NID).",
        "requested_by": "Requested by",
        "name": "Full name",
        "nid": "Personal number (NID)",
        "birthdate": "Date of birth",
        "purpose": "Purpose",
        "confirm_text": "I confirm that I request the criminal record certificate for myself.",
        "confirm": "Confirm and get the certificate",
        "issued_title": "Certificate issued",
        "issued_text": "Your certificate is ready, electronically sealed by the General "
        "Directorate of Prisons.",
        "reference": "Reference number",
        "issued_on": "Date of issue",
        "download": "Download the PDF",
        "documents": "Documents of this session",
        "another": "Request another certificate",
        "sign_out": "Sign out",
        "signed_out": "You have signed out.",
        "welcome": "Welcome, {name}",
        "home": "Back to the home page",
        "error_title": "The request could not be completed",
        "error_default": "Something went wrong. Please try again.",
        "error_access_denied": "You did not allow your data to be shared, so we cannot issue "
        "the certificate.",
        "error_login_required": "You need to sign in again.",
        "error_mismatching_state": "The sign-in request has expired or is not valid. "
        "Please try again.",
        "error_csrf": "The form has expired. Open the page again and retry.",
        "error_not_a_citizen": "This service is only for citizens with a personal number (NID).",
        "error_unavailable": "The service is not answering right now. Please try again shortly.",
        "error_not_found": "Page not found.",
        "technical": "Technical detail",
        "language": "Shqip",
        "purpose.employment": "For employment",
        "purpose.studies": "For studies",
        "purpose.residence": "For a residence permit or visa",
        "purpose.licence": "For a professional licence",
        "purpose.procurement": "For public procurement",
        "pdf.country": "REPUBLIC OF ALBANIA",
        "pdf.title": "Certificate of criminal record",
        "pdf.statement": "No criminal convictions on record",
        "pdf.statement_detail": "The judicial record holds no criminal convictions for the "
        "person named above.",
        "pdf.seal": "This document carries the electronic seal (PAdES) of the General "
        "Directorate of Prisons, verifiable with its public certificate.",
    },
}


def text(language: str, key: str, **values: str) -> str:
    """The string `key` in `language` (Albanian if the language is unknown)."""
    table = STRINGS.get(language, STRINGS[DEFAULT_LANGUAGE])
    return table[key].format(**values) if values else table[key]
