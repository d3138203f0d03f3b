"""The items of certrotate's own DynamoDB table: leases, progress, challenge records, stash, index."""
