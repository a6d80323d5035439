# Aliases for ./dev, which needs only bash and Python 3.11 (no make on a fresh Debian).
.PHONY: demo test bench
demo:
	./dev demo
test:
	./dev test
bench:
	./dev bench
