"""Stop words per language, for the Gopher rule "at least N distinct stop words".

English keeps Gopher's own eight words (Rae et al. 2021), which is what datatrove checks. Other
languages take the stopwords-iso list of the `stopwordsiso` package; a language without a list has
no stop-word rule (it abstains).
"""

from functools import lru_cache

GOPHER_ENGLISH = ("the", "be", "to", "of", "and", "that", "have", "with")


@lru_cache(maxsize=None)
def stop_words_for(lang: str | None) -> frozenset[str] | None:
    if lang in (None, "en"):
        return frozenset(GOPHER_ENGLISH)
    import stopwordsiso

    return frozenset(stopwordsiso.stopwords(lang)) if stopwordsiso.has_lang(lang) else None
