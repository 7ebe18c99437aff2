"""Feature flows: async functions over the datastore and crypto, no HTTP."""
