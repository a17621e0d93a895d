"""Books (LLaMA 4.5%): Gutenberg, PG-19 and Books3 texts, headers stripped, contained books dropped."""

from filters.sources import SourceKind
from filters.sources.books.config import BooksConfig

# A folder is a Gutenberg mirror, a PG-19 checkout or a Books3 download: the books, not
# the HTML/EPUB renditions, zips, images or metadata.csv beside them.
KIND = SourceKind("books", settings=BooksConfig, folder_suffixes=(
    ".txt", ".txt.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".tar", ".tar.gz", ".tgz"))
