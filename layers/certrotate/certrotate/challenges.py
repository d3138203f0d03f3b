"""Moved to certrotate.order.challenges: re-exported until the importers move."""

from certrotate.order.challenges import Dns01Responder as Dns01Responder
from certrotate.order.challenges import PlannedChallenges as PlannedChallenges
from certrotate.order.challenges import dns01_only as dns01_only
