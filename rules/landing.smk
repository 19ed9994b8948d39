# Landing: the vendor's daily flat files mirrored from S3, key for key, under landing/.
# The per-session rules (landing, bronze, gold features) are `run:` rules whose job bodies
# (quantmini/jobs.py) run on Snakemake's own threads (profiles/default): a `script:` job
# paid ~0.35 s of Python start and imports per session, more than a session's work.


rule landing_flatfile:
    input:
        correction_markers,
    output:
        RUN.lake.landing_pattern(),
    log:
        LOG_PATTERNS["landing"],
    priority: landing_priority
    retries: 2
    resources:
        s3_connections=1,
        mem_mb=300,
    params:
        dataset=dataset_for_landing,
        lake=lake_root,
        corrections=correction_stamps,
    run:
        jobs.landing_flatfile(
            config=config,
            lake_root=params.lake,
            dataset=params.dataset,
            date=wildcards.date,
            output=output[0],
            log_file=log[0],
        )


rule landing_correction:
    output:
        RUN.lake.correction_marker_pattern(),
    log:
        "logs/landing/corrections/{asset}/{feed}/{year}/{month}/{date}.{stamp}.log",
    conda:
        "../envs/quantmini.yaml"
    shell:
        "echo {wildcards.stamp} > {output} 2> {log}"
