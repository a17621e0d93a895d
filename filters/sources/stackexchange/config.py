"""Settings of the stackexchange source: the top-level ``stackexchange:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

# The longest <row> read. A post body is capped at 30,000 characters on the sites (65,536
# on a few); HTML-escaped in an attribute it stays far below this, so only a broken or
# hostile row reaches it, and it is quarantined without being held in memory.
MAX_ROW_BYTES = 8 << 20


@dataclass(frozen=True)
class StackExchangeConfig:
    # LLaMA "kept the data from the 28 largest websites". The allow-list: the 28 largest sites
    # of the dump by Posts.xml rows (questions + answers), the ranking RedPajama v1's
    # data_prep/stack_exchange/count.py computes over the archive.org dump; no meta site is in
    # it. Cross-checked against archive.org's item listing (archive.org/metadata/stackexchange,
    # dump of 2024-04-02, sizes of the .7z in bytes as listed there): stackoverflow.com-Posts
    # 23,026,928,274; superuser 1,294,499,667; serverfault 859,606,467; mathoverflow.net
    # 510,436,127; codereview 508,596,604; softwareengineering 363,040,159; dba 319,345,462
    # (all in the list; cooking 87,555,311 and datascience 89,531,447 are well below its tail).
    # A site outside the list is dropped (reason ``site``) when ``restrict_to_sites`` is on.
    sites: tuple[str, ...] = (
        "stackoverflow.com", "math.stackexchange.com", "superuser.com", "askubuntu.com",
        "serverfault.com", "tex.stackexchange.com", "unix.stackexchange.com", "stats.stackexchange.com",
        "physics.stackexchange.com", "electronics.stackexchange.com", "gis.stackexchange.com",
        "mathoverflow.net", "english.stackexchange.com", "apple.stackexchange.com",
        "salesforce.stackexchange.com", "wordpress.stackexchange.com", "magento.stackexchange.com",
        "sharepoint.stackexchange.com", "gaming.stackexchange.com", "ell.stackexchange.com",
        "softwareengineering.stackexchange.com", "dba.stackexchange.com", "codereview.stackexchange.com",
        "mathematica.stackexchange.com", "drupal.stackexchange.com", "scifi.stackexchange.com",
        "diy.stackexchange.com", "security.stackexchange.com",
    )
    # Off by default only because the sample and demo sites (coffee, conlang meta) are small:
    # a LLaMA rebuild sets it on (the llama1 preset's comment says so).
    restrict_to_sites: bool = False
    max_row_bytes: int = MAX_ROW_BYTES
