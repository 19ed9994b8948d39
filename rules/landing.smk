# Landing: the vendor's daily flat files mirrored from S3, key for key, under landing/.


rule landing_flatfile:
    input:
        correction_markers,
    output:
        RUN.lake.landing_pattern(),
    log:
        "logs/landing/{asset}/{feed}/{year}/{month}/{date}.log",
    retries: 2
    conda:
        "../envs/quantmini.yaml"
    resources:
        s3_connections=1,
        mem_mb=300,
    params:
        dataset=dataset_for_landing,
        lake=lake_root,
    script:
        "../scripts/landing_flatfile.py"


rule landing_correction:
    output:
        RUN.lake.correction_marker_pattern(),
    log:
        "logs/landing/corrections/{asset}/{feed}/{year}/{month}/{date}.{stamp}.log",
    conda:
        "../envs/quantmini.yaml"
    shell:
        "echo {wildcards.stamp} > {output} 2> {log}"
