"""Books (LLaMA 4.5%): Gutenberg and Books3 texts, headers stripped, near-duplicate books dropped."""

from filters.sources import SourceKind
from filters.sources.books.config import BooksConfig

KIND = SourceKind("books", settings=BooksConfig)
