/*-------------------------------------------------------------------------
 * key_text.h
 *	  A value's text in a cache key, the same in every session (see
 *	  key_text.c).
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_KEY_TEXT_H
#define CACHEXT_KEY_TEXT_H

#include "postgres.h"

#include "fmgr.h"

/* How values of one type are written into keys. */
typedef struct KeyTextOutput
{
	FmgrInfo	output;			/* the type's output function */
	bool		needs_fixed_settings;	/* its text depends on settings */
} KeyTextOutput;

/* Looks up type's output function in the current memory context. */
extern void key_text_output_init(KeyTextOutput *output, Oid type);

/*
 * Puts the settings that shape text forms at their fixed values until
 * key_text_restore_settings(the value returned); an error in between
 * restores them with the (sub)transaction's abort.
 */
extern int	key_text_fix_settings(void);
extern void key_text_restore_settings(int nest_level);

#endif							/* CACHEXT_KEY_TEXT_H */
