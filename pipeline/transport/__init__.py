from pipeline.transport.base import Message, Subscription, Transport

__all__ = ["Message", "Subscription", "Transport"]
