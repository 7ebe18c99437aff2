"""Views: one async function per endpoint, written against the WebPort."""
