"""The ACME CA: orders, the one account, keys and the network, renewal information. Imported lazily."""
