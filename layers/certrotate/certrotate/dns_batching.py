"""Moved to certrotate.order.dns_batching: re-exported until the importers move."""

from certrotate.order.dns_batching import DnsBatcher as DnsBatcher
