"""Block-level help for the cascade (docs/extraction.md): boilerplate blocks out, the main-text root marked.

Both work on Resiliparse's DOM through its CSS selector engine (C, one tree walk per selector list),
never by walking the tree in Python, so they cost about a millisecond a page together.

- `prune_boilerplate`: pop-ups, modals and dialogs, buttons, review widgets and social-media blocks,
  found by their element or class name, go before extraction, unless the block holds the page's
  heading or main element (a wrapper whose class happens to say "modal").
- `main_text_root`: the element a content-management system puts the body of a post in
  (`itemprop=articleBody`, `entry-content`, `post-content`, ...: the names Trafilatura's body
  selectors look for), else the page's only `<article>`, else its only `<main>`.
- `mark_root` and `split_marked`: two marker characters around the root, so that one Resiliparse pass
  gives both the page's main text and the part inside the root (a second pass would double the cost).
"""

from resiliparse.parse.html import HTMLTree

# Blocks that are not main text on any page type (class names are matched as substrings, any case).
BOILERPLATE = ", ".join(["dialog", "[role=dialog]"] + [f"[class*={name} i]" for name in (
    "popup", "modal",  # cookie walls, sign-up and region pop-ups
    "button", "btn",  # "Add to cart", "Share", "Load more"
    "review",  # product review widgets: the shop's ratings and customers' reviews
    "social",  # share and follow blocks
)])
# On a discussion page, also the blocks of a post that are not the post: signatures and the poster's
# profile (join date, post count, title).
DISCUSSION_BOILERPLATE = ", ".join([BOILERPLATE] + [f"[class*={name} i]" for name in (
    "signature", "userinfo", "user-info", "user_info",
)])
# A block holding one of these is a wrapper, not boilerplate: it stays.
HOLDS_MAIN_TEXT = "h1, main, [itemprop=articleBody]"
# Where content-management systems put the body of a post, most specific first.
POST_BODY = ", ".join(["[itemprop=articleBody]"] + [f"[class*={name}]" for name in (
    "entry-content", "post-content", "post_content", "article-body", "ArticleBody", "article-content",
    "blog-content", "rich-text",
)])
# The page's content area, around the main text and beside the site's navigation (Trafilatura's last
# body selectors): where the fallback takes all the visible text from.
CONTENT_AREA = "main, [role=main], [class*=main-content i], [id*=main-content i], [class*=page-content i], #content, .content"
ROOT_START, ROOT_END = "\x02", "\x03"


def prune_boilerplate(tree: HTMLTree, discussion: bool = False) -> int:
    """Remove the boilerplate blocks of the page in place (and a discussion's signatures and profiles);
    returns how many went."""
    if tree.body is None:
        return 0
    selector = DISCUSSION_BOILERPLATE if discussion else BOILERPLATE
    blocks = tree.body.query_selector_all(selector).values()  # .values(): a list, O(1) access
    if not blocks:
        return 0
    # The wrappers: every element above one that holds main text (one query and a walk up from each,
    # where asking each block for such a descendant cost a query per block, ~40 a page).
    wrappers = set()
    for holder in tree.body.query_selector_all(HOLDS_MAIN_TEXT).values():
        parent = holder.parent
        while parent is not None and parent not in wrappers:
            wrappers.add(parent)
            parent = parent.parent
    removed = 0
    for element in blocks:
        if element not in wrappers:
            element.decompose()
            removed += 1
    return removed


def main_text_root(tree: HTMLTree):
    """The element that holds the page's main text by its markup, or None."""
    if tree.body is None:
        return None
    root = tree.body.query_selector(POST_BODY)
    if root is not None:
        return root
    for selector in ("article", "main, [role=main]"):
        found = tree.body.query_selector_all(selector).values()
        if len(found) == 1:  # a listing has many articles: no root
            return found[0]
    return None


def content_area(tree: HTMLTree):
    """The first element the markup calls the page's content area, or None."""
    return tree.body.query_selector(CONTENT_AREA) if tree.body is not None else None


def mark_root(tree: HTMLTree, root) -> bool:
    """Put the markers inside the root, around its content. False where it has none."""
    if root.first_child is None:
        return False
    root.insert_before(tree.create_text_node(ROOT_START), root.first_child)
    root.append_child(tree.create_text_node(ROOT_END))
    return True


def split_marked(text: str) -> tuple[str, str | None]:
    """(the whole text, the text between the markers or None where extraction dropped them)."""
    start, end = text.find(ROOT_START), text.rfind(ROOT_END)
    inside = text[start + 1:end] if 0 <= start < end else None
    return _unmark(text), (_unmark(inside) if inside is not None else None)


def _unmark(text: str) -> str:
    return text.replace(ROOT_START, "").replace(ROOT_END, "")
