"""A readable name for a browser from its User-Agent: ("Chrome", "Android"), ("Safari", "iPhone").

Pure (no Flask). People recognise their phone by browser and system, never by
"Mozilla/5.0 (Linux; Android 13…": the devices list shows these names, in the reader's language.
The raw string stays stored as it came (it is what the browser said); only its reading is here.
"""
from __future__ import annotations

# Checked in order: many browsers also claim to be Chrome and Safari, so the specific ones come first.
_BROWSERS = (
    ("SamsungBrowser/", "Samsung Internet"),
    ("YaBrowser/", "Yandex Browser"),
    ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("Edg/", "Edge"),
    ("OPR/", "Opera"), ("OPT/", "Opera"), ("OPiOS/", "Opera"),
    ("FxiOS/", "Firefox"), ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Chromium/", "Chromium"),
    ("Version/", "Safari"),  # Safari says Version/x.y … Safari/…; the others above say more
)
_SYSTEMS = (
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("CrOS", "ChromeOS"),
    ("Windows", "Windows"), ("Macintosh", "Mac"), ("Linux", "Linux"),
)


def describe(user_agent: str | None) -> tuple[str | None, str | None]:
    """(browser, system), each None when it cannot be told."""
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), None)
    if browser == "Safari" and "Safari/" not in ua:
        browser = None  # an in-app web view (no Safari token): not a browser a person would name
    system = next((name for token, name in _SYSTEMS if token in ua), None)
    return browser, system
