# The Streamlit studio as a Docker Space (sdk: docker, app_port: 8501) or any container host.
# The default Space of this repository is the Gradio app (README front matter: sdk: gradio);
# README.md, "Two Spaces from one repository", says how to make this second one.
FROM python:3.11-slim

RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user PATH=/home/user/.local/bin:$PATH PYTHONUNBUFFERED=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false GAN_STUDIO_RUNS=/home/user/runs
WORKDIR /home/user/app

COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --user -r requirements.txt \
 && pip install --no-cache-dir --user --no-deps "animal-mnist==0.4"

COPY --chown=user . .
EXPOSE 8501
CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]
