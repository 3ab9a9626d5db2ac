-- A project is the repository's name: a working directory (an absolute path, as hooks send
-- `cwd`) becomes its last folder's name (src/ingest/ingest.ts projectName), so one
-- repository is one project whoever's home it sits in, and no home path (and the person it
-- names) shows where people are not meant to be named. What is stored already is renamed
-- the same way (rollup rows that now share a key are added up, as any are).
CREATE OR REPLACE TEMP MACRO project_name(project) AS CASE WHEN regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)') THEN coalesce(nullif(regexp_extract(project, '([^/\\]+)[/\\]*$', 1), ''), project) ELSE project END;
UPDATE events SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_index SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_1m SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_1m_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_1m SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_1m_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_5m SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_5m_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_5m SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_5m_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_15m SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_15m_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_15m SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_15m_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_1h SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_1h_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_1h SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_1h_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_1d SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE rollup_1d_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_1d SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
UPDATE session_1d_dur SET project = project_name(project) WHERE regexp_matches(project, '^(/|~|[A-Za-z]:[\\/]|\\\\)');
