FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml constraints.txt README.md ./
COPY mailroute ./mailroute
RUN pip install --no-cache-dir -c constraints.txt .
USER nobody
EXPOSE 8000
CMD ["mailroute", "web", "--host", "0.0.0.0"]
