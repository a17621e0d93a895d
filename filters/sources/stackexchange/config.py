"""Settings of the stackexchange source: the top-level ``stackexchange:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StackExchangeConfig:
    # The 28 largest sites by posts (RedPajama's count.py ranking); a site outside this list is dropped.
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
    restrict_to_sites: bool = False  # sample data are small sites; the demo keeps them
