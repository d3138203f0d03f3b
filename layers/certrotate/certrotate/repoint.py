"""Moved to certrotate.deploy.mover: re-exported until the importers move."""

from certrotate.deploy.mover import EndpointMover as EndpointMover
