/*-------------------------------------------------------------------------
 * key_text.c
 *	  A value's text in a cache key, the same in every session: what a
 *	  watched table's {column} (triggers.c) and cache_key()'s arguments
 *	  (sql_api.c) become.
 *
 * A type's output function writes what the session's settings say:
 * DateStyle, TimeZone and IntervalStyle shape dates, times and intervals,
 * extra_float_digits floats (and the geometric types), bytea_output
 * bytea.  A key built from such a value would depend on who wrote the row,
 * so writers in other settings would invalidate keys no reader uses.  So
 * these values are written with fixed settings, the ones a reader in
 * another language reproduces most easily, as pg_dump fixes its own:
 * DateStyle ISO, IntervalStyle postgres, TimeZone UTC, extra_float_digits
 * 1 (the shortest text that reads back exactly) and bytea_output hex.
 *
 * Switching settings costs a GUC nest level and a few assignments, so it
 * is done only for types whose text can depend on them (every type but a
 * short list of known ones, enums, and arrays and domains of those), and
 * only when the session is not already in the fixed settings.  The
 * switch uses GUC_ACTION_SAVE at a nest level of its own, as postgres_fdw
 * does for the values it sends: allowed in a parallel worker, undone by
 * key_text_restore_settings, or by the abort of an error in between.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "key_text.h"

/* The settings a key's text is written with. */
static const struct
{
	const char *name;
	const char *value;
}			fixed_settings[] = {
	{"DateStyle", "ISO"},
	{"IntervalStyle", "postgres"},
	{"TimeZone", "UTC"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
};

/*
 * True when the session writes text as fixed_settings would: any zone
 * with the fixed offset 0 writes timestamps as UTC does (ISO prints the
 * offset, not the zone's name), and every positive extra_float_digits
 * gives the shortest exact text.
 */
static bool
session_has_fixed_settings(void)
{
	long int	gmtoff;

	return DateStyle == USE_ISO_DATES &&
		IntervalStyle == INTSTYLE_POSTGRES &&
		extra_float_digits > 0 &&
		bytea_output == BYTEA_OUTPUT_HEX &&
		pg_get_timezone_offset(session_timezone, &gmtoff) && gmtoff == 0;
}

/*
 * Whether the text of type's values can depend on fixed_settings' settings:
 * false only for types known not to, and for enums, arrays and domains of
 * those.  A composite or range is assumed to.
 */
static bool
depends_on_settings(Oid type)
{
	Oid			element;

	type = getBaseType(type);
	switch (type)
	{
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case TEXTOID:
		case BPCHAROID:
		case VARCHAROID:
		case UUIDOID:
		case INETOID:
		case CIDROID:
		case JSONOID:
		case JSONBOID:
			return false;
	}
	element = get_element_type(type);
	if (OidIsValid(element))
		return depends_on_settings(element);
	return get_typtype(type) != TYPTYPE_ENUM;
}

void
key_text_output_init(KeyTextOutput *output, Oid type)
{
	Oid			function;
	bool		varlena;

	getTypeOutputInfo(type, &function, &varlena);
	fmgr_info(function, &output->output);
	output->needs_fixed_settings = depends_on_settings(type);
}

/*
 * Returns 0 when the session already writes as the fixed settings do, else
 * the GUC nest level that holds them.
 */
int
key_text_fix_settings(void)
{
	int			nest_level;

	if (session_has_fixed_settings())
		return 0;
	nest_level = NewGUCNestLevel();
	for (int i = 0; i < lengthof(fixed_settings); i++)
		(void) set_config_option(fixed_settings[i].name,
								 fixed_settings[i].value,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

void
key_text_restore_settings(int nest_level)
{
	if (nest_level != 0)
		AtEOXact_GUC(true, nest_level);
}
