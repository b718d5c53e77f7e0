"""What every relying party in clients/ shares: the receiving end of back-channel logout."""
