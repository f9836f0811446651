/* cachext 0.2.0 -> 0.3.0: every object 0.3.0 adds or changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cachext UPDATE TO '0.3.0'" to load this file. \quit
