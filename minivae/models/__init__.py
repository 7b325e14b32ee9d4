"""The models: each composes the lecture math, owns its parameters and gradients, and trains by one step."""
