"""AWS APIs through boto3: the certificate stores, what serves them, Route 53, the queue, the events."""
