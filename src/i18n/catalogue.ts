import Negotiator from 'negotiator'
import type { ErrorCode } from '../domain/errors.js'

export const locales = ['en', 'ru'] as const
export type Locale = typeof locales[number]
export const defaultLocale: Locale = 'en'

type Catalogue = Record<ErrorCode | MessageKey, string>

/** Texts that are not errors; pages add theirs here so both faces share one catalogue. */
export type MessageKey =
  | 'code_sent'
  | 'sms_text'
  | 'page_code_sent_by_sms'
  | 'page_code_sent_by_whatsapp'
  | 'page_code_sent_by_voice'
  | 'page_send_by_sms'
  | 'page_send_by_whatsapp'
  | 'page_send_by_voice'
  | 'page_other_channels'
  | 'voice_code'
  | 'voice_code_again'
  | 'sms_phone_changed'
  | 'signed_out'
  | 'field_required'
  | 'field_type_string'
  | 'field_type_integer'
  | 'field_type_object'
  | 'field_blank'
  | 'field_too_small'
  | 'field_too_large'
  | 'field_too_long'
  | 'field_too_short'
  | 'field_format'
  | 'field_unknown'
  // pages
  | 'page_sign_in_title'
  | 'page_login_intro'
  | 'page_phone_label'
  | 'page_phone_hint'
  | 'page_send_code'
  | 'page_code_title'
  | 'page_code_sent_to'
  | 'page_code_label'
  | 'page_code_hint'
  | 'page_sign_in'
  | 'page_send_again'
  | 'page_resend_wait'
  | 'page_other_number'
  | 'page_attempts_left'
  | 'page_profile_title'
  | 'page_phone'
  | 'page_own_code'
  | 'page_own_code_hint'
  | 'page_copy'
  | 'page_copied'
  | 'page_activated_code'
  | 'page_activate_title'
  | 'page_invite_label'
  | 'page_invite_hint'
  | 'page_activate'
  | 'page_invited_title'
  | 'page_invited_none'
  | 'page_passkey_sign_in'
  | 'page_passkey_or'
  | 'page_passkeys_title'
  | 'page_passkeys_intro'
  | 'page_passkeys_none'
  | 'page_passkey_add'
  | 'page_passkey_add_later'
  | 'page_passkey_no_script'
  | 'page_passkey_details'
  | 'page_passkey_never'
  | 'page_passkey_synced'
  | 'page_passkey_name_label'
  | 'page_passkey_rename'
  | 'page_passkey_remove'
  | 'page_passkey_added'
  | 'page_passkey_renamed'
  | 'page_passkey_removed'
  | 'page_passkey_failed'
  | 'page_admin_passkey_title'
  | 'page_admin_passkey_text'
  | 'page_admin_passkey_button'
  | 'page_admin_passkey_add_text'
  | 'page_sessions_title'
  | 'page_session_current'
  | 'page_session_browser'
  | 'page_session_app'
  | 'page_session_since'
  | 'page_sign_out_others'
  | 'page_sign_out'
  | 'page_delete_link'
  | 'page_phone_link'
  | 'page_phone_title'
  | 'page_phone_intro'
  | 'page_new_phone_label'
  | 'page_phone_current_intro'
  | 'page_phone_continue'
  | 'page_phone_step'
  | 'page_phone_code_intro'
  | 'page_phone_confirm'
  | 'page_phone_changed'
  | 'page_export_link'
  | 'page_delete_title'
  | 'page_delete_erased_title'
  | 'page_delete_erased'
  | 'page_delete_kept_title'
  | 'page_delete_kept'
  | 'page_delete_send_code'
  | 'page_delete_code_intro'
  | 'page_delete_confirm'
  | 'page_delete_keep'
  | 'page_deleted_title'
  | 'page_deleted_text'
  | 'page_invite_activated'
  | 'page_others_signed_out'
  | 'page_not_found_title'
  | 'page_not_found_text'
  | 'page_forbidden_title'
  | 'page_forbidden_text'
  | 'page_error_title'
  | 'page_request_id'
  | 'page_go_home'
  | 'page_error_summary'
  | 'page_language'
  | 'page_form_expired'
  | 'page_code_resent'
  // the support pages (/admin)
  | 'page_admin_title'
  | 'page_admin_nav'
  | 'page_admin_nav_users'
  | 'page_admin_nav_audit'
  | 'page_admin_nav_profile'
  | 'page_admin_link'
  | 'page_admin_search_title'
  | 'page_admin_search_intro'
  | 'page_admin_code_hint'
  | 'page_admin_search_button'
  | 'page_admin_search_none'
  | 'page_admin_no_account'
  | 'page_admin_phone_limits_title'
  | 'page_admin_users_title'
  | 'page_admin_users_caption'
  | 'page_admin_users_none'
  | 'page_admin_col_phone'
  | 'page_admin_col_invite_code'
  | 'page_admin_col_created'
  | 'page_admin_col_state'
  | 'page_admin_state_active'
  | 'page_admin_state_blocked'
  | 'page_admin_pages'
  | 'page_admin_first_page'
  | 'page_admin_next_page'
  | 'page_admin_spend_title'
  | 'page_admin_spend_hour'
  | 'page_admin_spend_day'
  | 'page_admin_spend_of_cap'
  | 'page_admin_spend_refused'
  | 'page_admin_audit_title'
  | 'page_admin_audit_caption'
  | 'page_admin_audit_none'
  | 'page_admin_col_when'
  | 'page_admin_col_who'
  | 'page_admin_col_what'
  | 'page_admin_col_whom'
  | 'page_admin_col_from'
  | 'page_admin_actor_phone'
  | 'page_admin_actor_key'
  | 'page_admin_actor_cli'
  | 'page_admin_audit_session_revoke'
  | 'page_admin_audit_sessions_revoke_all'
  | 'page_admin_audit_user_block'
  | 'page_admin_audit_user_unblock'
  | 'page_admin_audit_user_delete'
  | 'page_admin_audit_limits_clear'
  | 'page_admin_audit_read_users'
  | 'page_admin_audit_read_user'
  | 'page_admin_audit_read_limits'
  | 'page_admin_audit_read_audit'
  | 'page_admin_audit_reason'
  | 'page_admin_audit_revoked'
  | 'page_admin_audit_deleted'
  | 'page_admin_audit_unchanged'
  | 'page_admin_audit_session'
  | 'page_admin_audit_request'
  | 'page_admin_user_title'
  | 'page_admin_id'
  | 'page_admin_created'
  | 'page_admin_invited_by'
  | 'page_admin_invited_by_none'
  | 'page_admin_deleted_account'
  | 'page_admin_invited_at'
  | 'page_admin_state'
  | 'page_admin_blocked_since'
  | 'page_admin_login_code'
  | 'page_admin_code_none'
  | 'page_admin_code_live'
  | 'page_admin_code_expired'
  | 'page_admin_code_spent'
  | 'page_admin_actions_title'
  | 'page_admin_action_end_sessions'
  | 'page_admin_action_block'
  | 'page_admin_action_unblock'
  | 'page_admin_action_delete'
  | 'page_admin_action_clear_limits'
  | 'page_admin_action_end_session'
  | 'page_admin_action_end_session_label'
  | 'page_admin_sessions_title'
  | 'page_admin_sessions_caption'
  | 'page_admin_sessions_none'
  | 'page_admin_col_kind'
  | 'page_admin_col_device'
  | 'page_admin_col_address'
  | 'page_admin_col_since'
  | 'page_admin_col_last_seen'
  | 'page_admin_col_action'
  | 'page_admin_unknown'
  | 'page_admin_invitees_title'
  | 'page_admin_invitees_caption'
  | 'page_admin_invitees_none'
  | 'page_admin_col_activated'
  | 'page_admin_limits_title'
  | 'page_admin_limits_caption'
  | 'page_admin_limits_none'
  | 'page_admin_col_counter'
  | 'page_admin_col_count'
  | 'page_admin_col_window'
  | 'page_admin_counter_code_phone'
  | 'page_admin_counter_code_device'
  | 'page_admin_counter_code_all'
  | 'page_admin_counter_device_new'
  | 'page_admin_counter_wrong_phone'
  | 'page_admin_counter_wrong_device'
  | 'page_admin_counter_other'
  | 'page_admin_audit_user_title'
  | 'page_admin_audit_user_caption'
  | 'page_admin_events_title'
  | 'page_admin_events_caption'
  | 'page_admin_events_none'
  | 'page_admin_col_event'
  | 'page_admin_col_delivery'
  | 'page_admin_confirm_end_sessions'
  | 'page_admin_confirm_end_sessions_text'
  | 'page_admin_confirm_end_session'
  | 'page_admin_confirm_end_session_text'
  | 'page_admin_confirm_block'
  | 'page_admin_confirm_block_text'
  | 'page_admin_confirm_unblock'
  | 'page_admin_confirm_unblock_text'
  | 'page_admin_confirm_delete'
  | 'page_admin_confirm_delete_text'
  | 'page_admin_confirm_clear_limits'
  | 'page_admin_confirm_clear_limits_text'
  | 'page_admin_reason_label'
  | 'page_admin_reason_hint'
  | 'page_admin_note_label'
  | 'page_admin_note_hint'
  | 'page_admin_do_end_sessions'
  | 'page_admin_do_end_session'
  | 'page_admin_do_block'
  | 'page_admin_do_unblock'
  | 'page_admin_do_delete'
  | 'page_admin_do_clear_limits'
  | 'page_admin_cancel'
  | 'page_admin_done_end_sessions'
  | 'page_admin_done_block'
  | 'page_admin_done_block_unchanged'
  | 'page_admin_done_unblock'
  | 'page_admin_done_unblock_unchanged'
  | 'page_admin_done_delete'
  | 'page_admin_done_clear_limits'
  | 'page_admin_signed_in_too_long_title'
  | 'page_admin_signed_in_too_long_text'
  | 'page_admin_proof_label'
  | 'page_admin_proof_hint'
  | 'page_admin_proof_send'
  | 'page_admin_proof_sent'
  | 'page_admin_proof_required'
  | 'page_challenge_working'
  | 'page_challenge_waiting'
  | 'page_challenge_done'
  | 'page_challenge_failed'
  | 'page_challenge_noscript'
  | 'page_challenge_widget'
  | 'page_admin_nav_fraud'
  | 'page_admin_audit_fraud_allow'
  | 'page_admin_audit_fraud_block'
  | 'page_admin_audit_fraud_clear'
  | 'page_admin_passkeys_title'
  | 'page_admin_passkeys_caption'
  | 'page_admin_col_passkey_name'
  | 'page_admin_col_passkey_type'
  | 'page_admin_col_backed_up'
  | 'page_admin_passkey_single'
  | 'page_admin_passkey_multi'
  | 'page_admin_yes'
  | 'page_admin_no'
  | 'page_admin_action_remove_passkey'
  | 'page_admin_confirm_remove_passkey'
  | 'page_admin_confirm_remove_passkey_text'
  | 'page_admin_do_remove_passkey'
  | 'page_admin_done_remove_passkey'
  | 'page_admin_audit_passkey_remove'
  | 'page_admin_audit_read_fraud'
  | 'page_admin_audit_destination'
  | 'page_admin_fraud_title'
  | 'page_admin_fraud_intro'
  | 'page_admin_fraud_mode_enforce'
  | 'page_admin_fraud_mode_audit'
  | 'page_admin_fraud_mode_off'
  | 'page_admin_fraud_destinations_title'
  | 'page_admin_fraud_destinations_caption'
  | 'page_admin_fraud_none'
  | 'page_admin_col_destination'
  | 'page_admin_col_sent'
  | 'page_admin_delivery_title'
  | 'page_admin_delivery_caption'
  | 'page_admin_delivery_none'
  | 'page_admin_col_channel'
  | 'page_admin_col_country'
  | 'page_admin_col_handed'
  | 'page_admin_col_delivered'
  | 'page_admin_col_undelivered'
  | 'page_admin_col_failed'
  | 'page_admin_col_rate'
  | 'page_admin_col_entered'
  | 'page_admin_col_solved'
  | 'page_admin_col_baseline'
  | 'page_admin_col_suspicion'
  | 'page_admin_col_verdict'
  | 'page_admin_col_actions'
  | 'page_admin_fraud_kind_prefix'
  | 'page_admin_fraud_kind_country'
  | 'page_admin_fraud_not_suspect'
  | 'page_admin_fraud_cooling'
  | 'page_admin_fraud_verdict_allow'
  | 'page_admin_fraud_verdict_block'
  | 'page_admin_fraud_verdict_none'
  | 'page_admin_fraud_verdict_by'
  | 'page_admin_fraud_action_allow'
  | 'page_admin_fraud_action_block'
  | 'page_admin_fraud_action_clear'
  | 'page_admin_fraud_rules_title'
  | 'page_admin_fraud_rules_caption'
  | 'page_admin_fraud_rules_none'
  | 'page_admin_fraud_other_title'
  | 'page_admin_fraud_destination_label'
  | 'page_admin_fraud_destination_hint'
  | 'page_admin_fraud_allow'
  | 'page_admin_fraud_block'
  | 'page_admin_fraud_clear'
  | 'page_admin_fraud_confirm_allow'
  | 'page_admin_fraud_confirm_allow_text'
  | 'page_admin_fraud_confirm_block'
  | 'page_admin_fraud_confirm_block_text'
  | 'page_admin_fraud_confirm_clear'
  | 'page_admin_fraud_confirm_clear_text'
  | 'page_admin_fraud_done_allow'
  | 'page_admin_fraud_done_block'
  | 'page_admin_fraud_done_clear'
  | 'page_admin_fraud_done_clear_unchanged'

const en: Catalogue = {
  validation_error: 'Some fields are missing or invalid.',
  parse_error: 'The request body could not be read: send valid JSON or a form.',
  phone_invalid: 'Enter a valid phone number in international format, e.g. +44 7400 123456.',
  phone_not_allowed: 'Codes cannot be sent to this number. Use a mobile number.',
  code_invalid: 'The code is wrong.',
  code_expired: 'The code has expired. Ask for a new one.',
  code_not_found: 'There is no active code for this number. Ask for a new one.',
  too_many_attempts: 'Too many wrong codes. Ask for a new code in {wait}.',
  resend_too_soon: 'A code was sent a moment ago. You can ask for a new one in {wait}.',
  rate_limited: 'Too many requests. Try again in {wait}.',
  too_many_codes: 'Too many codes were sent to this number. You can ask for a new one in {wait}.',
  challenge_required: 'Codes to numbers like this one are being abused right now, so a quick automatic check comes first. Your browser or app does it; if nothing happens, try again in a few minutes.',
  challenge_invalid: 'The automatic check did not pass or has expired. Please try again.',
  destination_cooling_off: 'Codes to numbers like this one are paused for a while because of abuse. You can try again in {wait}.',
  too_many_wrong_codes: 'Too many wrong codes for this number. Sign-in from a new device is paused; try again in {wait}, or from a device that signed in to this number before.',
  phone_country_not_allowed: 'Codes cannot be sent to numbers in this country.',
  sms_cap_reached: 'We cannot send more text messages right now. Try again in {wait}.',
  sms_unavailable: 'The text message could not be sent right now. Try again in a minute.',
  channel_unavailable: 'Codes cannot be sent this way to this number. Choose another way.',
  signature_invalid: 'The signature of this callback is missing or wrong.',
  too_many_calls: 'Too many calls to this number. Ask for the code by text message, or try again in {wait}.',
  page_code_sent_by_sms: 'We sent the code by text message.',
  page_code_sent_by_whatsapp: 'We sent the code by WhatsApp.',
  page_code_sent_by_voice: 'We are calling you to read out the code.',
  page_send_by_sms: 'Send by text message instead',
  page_send_by_whatsapp: 'Send by WhatsApp instead',
  page_send_by_voice: 'Call me instead',
  page_other_channels: 'No code? Get it another way:',
  voice_code: 'Your phonepass code is: {digits}.',
  voice_code_again: 'Once more, your code is: {digits}.',
  invite_code_invalid: 'An invite code is 6 letters and digits, e.g. K7M2XQ.',
  invite_own_code: 'This is your own invite code. Enter the code of the person who invited you.',
  invite_not_found: 'No one has this invite code. Check it and try again.',
  invite_already_activated: 'You have already activated an invite code.',
  invite_cycle: 'This code belongs to someone who joined with your code, so it cannot be yours.',
  not_authenticated: 'Authentication credentials were not provided.',
  token_not_valid: 'The token is invalid or expired. Sign in again.',
  cross_site_request: 'This request came from another website, which may not send it. Use the app or this site itself.',
  account_blocked: 'This account has been blocked. Contact support if you think this is a mistake.',
  phone_taken: 'This number already has an account. To move to it, delete that account first or use another number.',
  phone_unchanged: 'This is already your number.',
  passkey_invalid: 'This passkey could not be used here. Sign in with your phone number instead.',
  passkey_challenge_invalid: 'This passkey request has expired or was used already. Try again.',
  passkey_sign_in_too_old: 'To add a passkey, sign in again with a code first: this sign-in is not recent enough.',
  passkey_required: 'Confirm with your passkey first.',
  passkey_exists: 'This passkey is added already.',
  passkey_not_found: 'No such passkey.',
  passkeys_off: 'Passkeys are not available here.',
  phone_change_unproven: 'First confirm the change with a fresh code sent to your current number.',
  not_found: 'Not found.',
  user_not_found: 'There is no account with this id or phone: it never existed or has been deleted.',
  session_not_found: 'This account has no session with this id.',
  reason_invalid: 'Give a reason of 1 to 500 characters.',
  method_not_allowed: 'Method "{method}" not allowed.',
  unsupported_media_type: 'Send the body as JSON or as a form.',
  payload_too_large: 'The request body is too large.',
  service_unavailable: 'The service is busy. Try again in a few seconds.',
  internal_error: 'Something went wrong on our side. Try again; if it goes on, quote the request id {requestId}.',
  code_sent: 'A code was sent to {phone}.',
  sms_text: 'Your phonepass code: {code}. It expires in {minutes} min. Do not share it.',
  sms_phone_changed: 'phonepass: your account has moved from this number to {phone}. If you did not do this, contact support.',
  signed_out: 'You have signed out.',
  field_required: 'This field is required.',
  field_type_string: 'Must be text.',
  field_type_integer: 'Must be a whole number.',
  field_type_object: 'Send the fields as a JSON object or a form.',
  field_blank: 'This field may not be blank.',
  field_too_small: 'Must be at least {limit}.',
  field_too_large: 'Must be at most {limit}.',
  field_too_long: 'Must be at most {limit} characters.',
  field_too_short: 'Must be at least {limit} characters.',
  field_format: 'Has the wrong format.',
  field_unknown: 'Has an invalid value.',
  page_sign_in_title: 'Sign in',
  page_login_intro: 'Enter your phone number and we will text you a one-time code. No password needed.',
  page_phone_label: 'Phone number',
  page_phone_hint: 'In international format, e.g. +44 7400 123456.',
  page_send_code: 'Send code',
  page_code_title: 'Enter the code',
  page_code_sent_to: 'We sent a code to {phone}.',
  page_code_label: 'Code from the SMS',
  page_code_hint: '{length} digits.',
  page_sign_in: 'Sign in',
  page_send_again: 'Send a new code',
  page_resend_wait: 'You can ask for a new code in {wait}.',
  page_other_number: 'Use another number',
  page_attempts_left: 'Tries left for this code: {count}.',
  page_profile_title: 'Your profile',
  page_phone: 'Phone',
  page_own_code: 'Your invite code',
  page_own_code_hint: 'Share it: whoever enters it joins with your code.',
  page_copy: 'Copy',
  page_copied: 'Copied',
  page_activated_code: 'You joined with the code',
  page_activate_title: 'Have an invite code?',
  page_invite_label: 'Invite code',
  page_invite_hint: '6 letters and digits, from the person who invited you.',
  page_activate: 'Activate',
  page_invited_title: 'Joined with your code: {count}',
  page_invited_none: 'No one yet.',
  page_passkey_sign_in: 'Sign in with a passkey',
  page_passkey_or: 'Or, without an SMS:',
  page_passkeys_title: 'Passkeys',
  page_passkeys_intro: 'A passkey on this device signs you in next time without an SMS code: with your fingerprint, face or screen lock.',
  page_passkeys_none: 'No passkeys yet.',
  page_passkey_add: 'Add a passkey',
  page_passkey_add_later: 'To add a passkey, sign out and sign in again with a code: adding one needs a recent sign-in.',
  page_passkey_no_script: 'Adding a passkey needs JavaScript.',
  page_passkey_details: 'added {created}; last used {used}',
  page_passkey_never: 'never',
  page_passkey_synced: 'synced',
  page_passkey_name_label: 'New name for {name}',
  page_passkey_rename: 'Rename',
  page_passkey_remove: 'Remove {name}',
  page_passkey_added: 'The passkey is added. Next time, sign in with it.',
  page_passkey_renamed: 'The passkey is renamed.',
  page_passkey_removed: 'The passkey is removed.',
  page_passkey_failed: 'The passkey did not work. Try again, or use your phone number.',
  page_admin_passkey_title: 'Confirm with your passkey',
  page_admin_passkey_text: 'The support pages ask for your passkey after the phone code, so a stolen SIM card alone is not enough.',
  page_admin_passkey_button: 'Confirm with a passkey',
  page_admin_passkey_add_text: 'You have no passkey yet. Add one on this device now; from then on the support pages ask for it after the code.',
  page_sessions_title: 'Where you are signed in',
  page_session_current: 'this browser',
  page_session_browser: 'Browser',
  page_session_app: 'App',
  page_session_since: 'since {date}',
  page_sign_out_others: 'Sign out everywhere else',
  page_sign_out: 'Sign out',
  page_delete_link: 'Delete my account',
  page_phone_link: 'Change my number',
  page_phone_title: 'Change your number',
  page_phone_intro: 'First we send a code to your current number, to make sure it is you, then one to the new number. Your account and invite code stay as they are; your other sign-ins end, and the old number gets a short message.',
  page_new_phone_label: 'New phone number',
  page_phone_current_intro: 'To make sure it is you, enter the code we sent to your current number, {phone}. Then we send a code to {newPhone}.',
  page_phone_continue: 'Continue',
  page_phone_step: 'Step {step} of 3',
  page_phone_code_intro: 'Enter the code we sent to {phone}.',
  page_phone_confirm: 'Change my number',
  page_phone_changed: 'Your number has been changed.',
  page_export_link: 'Download my data',
  page_delete_title: 'Delete your account',
  page_delete_erased_title: 'Erased at once',
  page_delete_erased: 'Your phone number, every sign-in in apps and browsers with its times, addresses and devices, and any code waiting for you. Apps and browsers signed in to this account are signed out.',
  page_delete_kept_title: 'What stays',
  page_delete_kept: 'Your invite code is never given to anyone else, and people who joined with it keep it on their profile. If you had activated an invite code, a new account with this number cannot activate another. You may sign up again with this number as a new account.',
  page_delete_send_code: 'Send a code to {phone}',
  page_delete_code_intro: 'To confirm, enter the code we sent to {phone}. This cannot be undone.',
  page_delete_confirm: 'Delete my account',
  page_delete_keep: 'Keep my account',
  page_deleted_title: 'Your account is deleted',
  page_deleted_text: 'Your account is deleted and you are signed out.',
  page_invite_activated: 'Invite code activated.',
  page_others_signed_out: 'Signed out of other sessions: {count}.',
  page_not_found_title: 'Page not found',
  page_not_found_text: 'There is nothing at this address.',
  page_forbidden_title: 'Request refused',
  page_forbidden_text: 'This form came from another site or from a page that is too old. Go back, reload the page and try again.',
  page_error_title: 'Something went wrong',
  page_request_id: 'Request id: {requestId}',
  page_go_home: 'Go to the start page',
  page_error_summary: 'There is a problem',
  page_language: 'Language',
  page_form_expired: 'That page was out of date, so nothing was done. Please try again.',
  page_code_resent: 'We sent a new code. The code sent before no longer works.',
  page_admin_title: 'Support',
  page_admin_nav: 'Support pages',
  page_admin_nav_users: 'Accounts',
  page_admin_nav_audit: 'Audit log',
  page_admin_nav_profile: 'Your profile',
  page_admin_link: 'Support pages',
  page_admin_search_title: 'Find an account',
  page_admin_search_intro: 'By phone number or by the account\'s own invite code: fill in one.',
  page_admin_code_hint: '6 letters and digits: the code the account shares.',
  page_admin_search_button: 'Find',
  page_admin_search_none: 'No account has this number or invite code.',
  page_admin_no_account: 'No account has {phone}.',
  page_admin_phone_limits_title: 'Limit counters of {phone}',
  page_admin_users_title: 'Newest accounts',
  page_admin_users_caption: 'Accounts, newest first',
  page_admin_users_none: 'No accounts yet.',
  page_admin_col_phone: 'Phone',
  page_admin_col_invite_code: 'Invite code',
  page_admin_col_created: 'Created',
  page_admin_col_state: 'State',
  page_admin_state_active: 'Active',
  page_admin_state_blocked: 'Blocked',
  page_admin_pages: 'Pages',
  page_admin_first_page: 'Newest',
  page_admin_next_page: 'Older',
  page_admin_spend_title: 'Text messages sent',
  page_admin_spend_hour: 'This hour',
  page_admin_spend_day: 'Today (UTC)',
  page_admin_spend_of_cap: '{sent} of {cap} allowed an hour',
  page_admin_spend_refused: 'Refused at the cap this hour: {count}',
  page_admin_audit_title: 'Audit log',
  page_admin_audit_caption: 'Admin actions and reads, newest first',
  page_admin_audit_none: 'No admin action yet.',
  page_admin_col_when: 'When',
  page_admin_col_who: 'Who',
  page_admin_col_what: 'What',
  page_admin_col_whom: 'Whom',
  page_admin_col_from: 'From where',
  page_admin_actor_phone: 'Support {name}',
  page_admin_actor_key: 'API key “{name}”',
  page_admin_actor_cli: 'Command line ({name})',
  page_admin_audit_session_revoke: 'Session ended',
  page_admin_audit_sessions_revoke_all: 'All sessions ended',
  page_admin_audit_user_block: 'Blocked',
  page_admin_audit_user_unblock: 'Unblocked',
  page_admin_audit_user_delete: 'Account deleted',
  page_admin_audit_limits_clear: 'Limit counters cleared',
  page_admin_audit_read_users: 'Searched accounts',
  page_admin_audit_read_user: 'Viewed the account',
  page_admin_audit_read_limits: 'Viewed the limit counters',
  page_admin_audit_read_audit: 'Viewed the audit log',
  page_admin_audit_reason: 'Reason: {reason}',
  page_admin_audit_revoked: 'Sessions ended: {count}',
  page_admin_audit_deleted: 'Counters cleared: {count}',
  page_admin_audit_unchanged: 'Nothing changed',
  page_admin_audit_session: 'Session {session}…',
  page_admin_audit_request: 'Request {id}',
  page_admin_user_title: 'Account {phone}',
  page_admin_id: 'Id',
  page_admin_created: 'Created',
  page_admin_invited_by: 'Joined with the code of',
  page_admin_invited_by_none: 'No code activated',
  page_admin_deleted_account: 'a deleted account',
  page_admin_invited_at: 'on {date}',
  page_admin_state: 'State',
  page_admin_blocked_since: 'Blocked since {date}',
  page_admin_login_code: 'Sign-in code',
  page_admin_code_none: 'None waiting',
  page_admin_code_live: 'Waiting until {date}; wrong tries: {count}',
  page_admin_code_expired: 'Expired at {date}',
  page_admin_code_spent: 'Used (sent {date})',
  page_admin_actions_title: 'Actions',
  page_admin_action_end_sessions: 'End all sessions…',
  page_admin_action_block: 'Block…',
  page_admin_action_unblock: 'Unblock…',
  page_admin_action_delete: 'Delete the account…',
  page_admin_action_clear_limits: 'Clear send counters…',
  page_admin_action_end_session: 'End…',
  page_admin_action_end_session_label: 'End the session signed in {date}',
  page_admin_sessions_title: 'Live sessions: {count}',
  page_admin_sessions_caption: 'Browsers and apps signed in, most recently used first',
  page_admin_sessions_none: 'No live session.',
  page_admin_col_kind: 'Kind',
  page_admin_col_device: 'Device',
  page_admin_col_address: 'Address',
  page_admin_col_since: 'Signed in',
  page_admin_col_last_seen: 'Last used',
  page_admin_col_action: 'Action',
  page_admin_unknown: 'unknown',
  page_admin_invitees_title: 'Joined with this code: {count}',
  page_admin_invitees_caption: 'The latest, newest first',
  page_admin_invitees_none: 'No one yet.',
  page_admin_col_activated: 'Code activated',
  page_admin_limits_title: 'Limit counters of this number',
  page_admin_limits_caption: 'Codes sent and wrong codes counted in the current windows',
  page_admin_limits_none: 'No counter: no limit holds this number back now.',
  page_admin_col_counter: 'Counter',
  page_admin_col_count: 'Count',
  page_admin_col_window: 'Window',
  page_admin_counter_code_phone: 'Codes sent (no known device)',
  page_admin_counter_code_device: 'Codes sent to a known device',
  page_admin_counter_code_all: 'Codes sent, all',
  page_admin_counter_device_new: 'New devices',
  page_admin_counter_wrong_phone: 'Wrong codes (no known device)',
  page_admin_counter_wrong_device: 'Wrong codes from a known device',
  page_admin_counter_other: 'Other',
  page_admin_audit_user_title: 'Admin actions on this account',
  page_admin_audit_user_caption: 'The latest, newest first',
  page_admin_events_title: 'Recent events',
  page_admin_events_caption: 'Webhook events about this account still kept, newest first',
  page_admin_events_none: 'No event kept.',
  page_admin_col_event: 'Event',
  page_admin_col_delivery: 'Delivery',
  page_admin_confirm_end_sessions: 'End all sessions of {phone}?',
  page_admin_confirm_end_sessions_text: 'Every browser and app signed in to this account is signed out at once. The person can sign in again with a code.',
  page_admin_confirm_end_session: 'End this session of {phone}?',
  page_admin_confirm_end_session_text: 'This browser or app is signed out at once; the other sessions stay.',
  page_admin_confirm_block: 'Block {phone}?',
  page_admin_confirm_block_text: 'Every session ends at once, and the account cannot sign in until it is unblocked. The person learns that the account is blocked only when they next enter a right code.',
  page_admin_confirm_unblock: 'Unblock {phone}?',
  page_admin_confirm_unblock_text: 'The person may sign in again. Sessions the block ended stay ended.',
  page_admin_confirm_delete: 'Delete the account {phone}?',
  page_admin_confirm_delete_text: 'This cannot be undone. The account is erased as when a person deletes their own: the number, every session and any waiting code. Its invite code stays reserved; the audit log keeps this action.',
  page_admin_confirm_clear_limits: 'Clear the send counters of {phone}?',
  page_admin_confirm_clear_limits_text: 'Codes can be sent to the number again at once, as if none had been sent this hour and day. Wrong codes stay counted: no one gets more guesses.',
  page_admin_reason_label: 'Reason',
  page_admin_reason_hint: 'Required. Kept in the audit log for support, never shown to the person. Up to 500 characters.',
  page_admin_note_label: 'Note for the audit log (optional)',
  page_admin_note_hint: 'Why, or the ticket it answers. Up to 500 characters.',
  page_admin_do_end_sessions: 'End all sessions',
  page_admin_do_end_session: 'End the session',
  page_admin_do_block: 'Block',
  page_admin_do_unblock: 'Unblock',
  page_admin_do_delete: 'Delete the account',
  page_admin_do_clear_limits: 'Clear the counters',
  page_admin_cancel: 'Cancel',
  page_admin_done_end_sessions: 'Sessions ended: {count}.',
  page_admin_done_block: 'The account is blocked. Sessions ended: {count}.',
  page_admin_done_block_unchanged: 'The account was blocked already; nothing changed.',
  page_admin_done_unblock: 'The account is unblocked.',
  page_admin_done_unblock_unchanged: 'The account was not blocked; nothing changed.',
  page_admin_done_delete: 'The account is deleted.',
  page_admin_done_clear_limits: 'Counters cleared: {count}.',
  admin_network_refused: 'Admin access is not allowed from this network (ADMIN_ALLOWED_NETWORKS).',
  page_admin_signed_in_too_long_title: 'Sign in again',
  page_admin_signed_in_too_long_text: 'You signed in more than {hours} hours ago. The support pages need a recent sign-in: sign out, then sign in again.',
  page_admin_proof_label: 'Code sent to your phone',
  page_admin_proof_hint: 'This action needs a fresh code: press “Send me a code”, then enter the code from the SMS to your own phone.',
  page_admin_proof_send: 'Send me a code',
  page_admin_proof_sent: 'A code is on its way to your phone.',
  page_admin_proof_required: 'Enter the code sent to your phone.',
  page_challenge_working: 'Running the automatic check. This takes a second or two.',
  page_challenge_waiting: 'Still checking. The form is sent as soon as the check is done.',
  page_challenge_done: 'Check done. Press “{button}”.',
  page_challenge_failed: 'The automatic check could not run in this browser. Reload the page to try again, or use another browser.',
  page_challenge_noscript: 'Before a code is sent to this number, a quick automatic check is needed, and it needs JavaScript. Turn JavaScript on for this site (or use a browser that has it), then send the form again.',
  page_challenge_widget: 'Complete the check below, then press “{button}”.',
  destination_invalid: 'Give a number prefix (+ and 2 to 14 digits, e.g. +44791112) or a country’s two-letter code (e.g. GB).',
  page_admin_nav_fraud: 'Fraud guard',
  page_admin_audit_fraud_allow: 'Destination allowed (fraud guard)',
  page_admin_audit_fraud_block: 'Destination blocked (fraud guard)',
  page_admin_audit_fraud_clear: 'Verdict cleared (fraud guard)',
  page_admin_passkeys_title: 'Passkeys ({count})',
  page_admin_passkeys_caption: 'Passkeys: a sign-in without an SMS; the phone stays the way in',
  page_admin_col_passkey_name: 'Name',
  page_admin_col_passkey_type: 'Kind',
  page_admin_col_backed_up: 'Backed up',
  page_admin_passkey_single: 'this device only',
  page_admin_passkey_multi: 'synced',
  page_admin_yes: 'yes',
  page_admin_no: 'no',
  page_admin_action_remove_passkey: 'Remove…',
  page_admin_confirm_remove_passkey: 'Remove this passkey of {phone}?',
  page_admin_confirm_remove_passkey_text: 'It signs nothing in from now on; the person still signs in with a code to their phone.',
  page_admin_do_remove_passkey: 'Remove the passkey',
  page_admin_done_remove_passkey: 'The passkey is removed.',
  page_admin_audit_passkey_remove: 'Passkey removed',
  page_admin_audit_read_fraud: 'Viewed the fraud guard',
  page_admin_audit_destination: 'Destination: {destination}',
  page_admin_fraud_title: 'Fraud guard',
  page_admin_fraud_intro: 'Codes sent per number prefix and per country in the last {minutes} minutes, busiest first, with what the guard makes of them. A verdict holds from the next code on.',
  page_admin_fraud_mode_enforce: 'The guard is on: it asks unknown numbers of a suspect destination to pass a check, and holds them back.',
  page_admin_fraud_mode_audit: 'The guard only watches (FRAUD_GUARD=audit): what it would refuse goes out and is logged.',
  page_admin_fraud_mode_off: 'The guard is off (FRAUD_GUARD=off): it counts nothing, and verdicts are not applied.',
  page_admin_fraud_destinations_title: 'Destinations',
  page_admin_fraud_destinations_caption: 'Destinations counted in the last {minutes} minutes',
  page_admin_fraud_none: 'No codes were counted in the window.',
  page_admin_col_destination: 'Destination',
  page_admin_col_sent: 'Codes sent',
  page_admin_delivery_title: 'Delivery by channel',
  page_admin_delivery_caption: 'Messages of the last 24 hours by channel and country; the rate is of those whose fate a receipt told',
  page_admin_delivery_none: 'No messages in the last 24 hours.',
  page_admin_col_channel: 'Channel',
  page_admin_col_country: 'Country',
  page_admin_col_handed: 'Handed over',
  page_admin_col_delivered: 'Delivered',
  page_admin_col_undelivered: 'Undelivered',
  page_admin_col_failed: 'Refused (fell back)',
  page_admin_col_rate: 'Delivery rate',
  page_admin_col_entered: 'Entered',
  page_admin_col_solved: 'Checks passed',
  page_admin_col_baseline: 'Usual per window',
  page_admin_col_suspicion: 'Suspect',
  page_admin_col_verdict: 'Verdict',
  page_admin_col_actions: 'Actions',
  page_admin_fraud_kind_prefix: 'number prefix',
  page_admin_fraud_kind_country: 'country',
  page_admin_fraud_not_suspect: 'No',
  page_admin_fraud_cooling: 'Cooling off until {date}',
  page_admin_fraud_verdict_allow: 'Allowed',
  page_admin_fraud_verdict_block: 'Blocked',
  page_admin_fraud_verdict_none: 'None',
  page_admin_fraud_verdict_by: '{who}, {date}: {reason}',
  page_admin_fraud_action_allow: 'Allow {destination}',
  page_admin_fraud_action_block: 'Block {destination}',
  page_admin_fraud_action_clear: 'Clear the verdict on {destination}',
  page_admin_fraud_rules_title: 'Verdicts',
  page_admin_fraud_rules_caption: 'Verdicts set by operators, newest first',
  page_admin_fraud_rules_none: 'No verdicts: the guard decides alone everywhere.',
  page_admin_fraud_other_title: 'Another destination',
  page_admin_fraud_destination_label: 'Number prefix or country',
  page_admin_fraud_destination_hint: 'A prefix as the guard counts it: a number without its last {digits} digits, e.g. +44791112; or a country code, e.g. GB.',
  page_admin_fraud_allow: 'Allow',
  page_admin_fraud_block: 'Block',
  page_admin_fraud_clear: 'Clear the verdict',
  page_admin_fraud_confirm_allow: 'Allow {destination}?',
  page_admin_fraud_confirm_allow_text: 'From the next code on, the fraud guard no longer holds codes to this destination back: no check, no cooling-off. The hourly SMS cap still holds.',
  page_admin_fraud_confirm_block: 'Block {destination}?',
  page_admin_fraud_confirm_block_text: 'From the next code on, numbers there without an account get no code: they are told codes cannot be sent to the number. People with an account there still sign in.',
  page_admin_fraud_confirm_clear: 'Clear the verdict on {destination}?',
  page_admin_fraud_confirm_clear_text: 'From the next code on, the fraud guard decides alone about this destination again.',
  page_admin_fraud_done_allow: 'The destination is allowed.',
  page_admin_fraud_done_block: 'The destination is blocked.',
  page_admin_fraud_done_clear: 'The verdict is cleared.',
  page_admin_fraud_done_clear_unchanged: 'There was no verdict; nothing changed.'
}

const ru: Catalogue = {
  validation_error: 'Некоторые поля не заполнены или заполнены неверно.',
  parse_error: 'Не удалось прочитать тело запроса: отправьте корректный JSON или форму.',
  phone_invalid: 'Введите номер телефона в международном формате, например +7 912 345-67-89.',
  phone_not_allowed: 'На этот номер нельзя отправить код. Укажите мобильный номер.',
  code_invalid: 'Неверный код.',
  code_expired: 'Срок действия кода истёк. Запросите новый.',
  code_not_found: 'Для этого номера нет действующего кода. Запросите новый.',
  too_many_attempts: 'Слишком много неверных кодов. Запросите новый код через {wait}.',
  resend_too_soon: 'Код только что отправлен. Новый можно запросить через {wait}.',
  rate_limited: 'Слишком много запросов. Повторите через {wait}.',
  too_many_codes: 'На этот номер отправлено слишком много кодов. Новый можно запросить через {wait}.',
  challenge_required: 'Сейчас на номера вроде этого массово запрашивают коды, поэтому сначала нужна быстрая автоматическая проверка. Её выполнит ваш браузер или приложение; если ничего не происходит, попробуйте через несколько минут.',
  challenge_invalid: 'Автоматическая проверка не пройдена или устарела. Попробуйте ещё раз.',
  destination_cooling_off: 'Отправка кодов на номера вроде этого на время приостановлена из-за злоупотреблений. Попробовать снова можно через {wait}.',
  too_many_wrong_codes: 'Слишком много неверных кодов для этого номера. Вход с нового устройства приостановлен; повторите через {wait} или войдите с устройства, с которого уже входили в этот номер.',
  phone_country_not_allowed: 'На номера этой страны нельзя отправить код.',
  sms_cap_reached: 'Сейчас мы не можем отправить больше SMS. Повторите через {wait}.',
  sms_unavailable: 'Сейчас не удаётся отправить SMS. Повторите через минуту.',
  channel_unavailable: 'Этим способом код на этот номер не отправить. Выберите другой.',
  signature_invalid: 'Подпись этого обратного вызова отсутствует или неверна.',
  too_many_calls: 'Слишком много звонков на этот номер. Запросите код по SMS или повторите через {wait}.',
  page_code_sent_by_sms: 'Мы отправили код по SMS.',
  page_code_sent_by_whatsapp: 'Мы отправили код в WhatsApp.',
  page_code_sent_by_voice: 'Сейчас мы позвоним и продиктуем код.',
  page_send_by_sms: 'Прислать по SMS',
  page_send_by_whatsapp: 'Прислать в WhatsApp',
  page_send_by_voice: 'Позвонить мне',
  page_other_channels: 'Код не пришёл? Получите его иначе:',
  voice_code: 'Ваш код phonepass: {digits}.',
  voice_code_again: 'Повторяю, ваш код: {digits}.',
  invite_code_invalid: 'Код приглашения — 6 букв и цифр, например K7M2XQ.',
  invite_own_code: 'Это ваш собственный код. Введите код человека, который вас пригласил.',
  invite_not_found: 'Такого кода приглашения нет. Проверьте его и повторите.',
  invite_already_activated: 'Вы уже активировали код приглашения.',
  invite_cycle: 'Этот код принадлежит человеку, который пришёл по вашему коду, поэтому его нельзя активировать.',
  not_authenticated: 'Учётные данные не были предоставлены.',
  token_not_valid: 'Токен недействителен или истёк. Войдите снова.',
  cross_site_request: 'Этот запрос пришёл с другого сайта, которому его отправлять нельзя. Воспользуйтесь приложением или самим этим сайтом.',
  account_blocked: 'Эта учётная запись заблокирована. Если вы считаете это ошибкой, обратитесь в поддержку.',
  phone_taken: 'С этим номером уже есть учётная запись. Чтобы перейти на него, сначала удалите ту учётную запись или выберите другой номер.',
  phone_unchanged: 'Это уже ваш номер.',
  passkey_invalid: 'Этот ключ доступа здесь не подходит. Войдите по номеру телефона.',
  passkey_challenge_invalid: 'Запрос ключа доступа устарел или уже использован. Попробуйте ещё раз.',
  passkey_sign_in_too_old: 'Чтобы добавить ключ доступа, сначала войдите заново по коду: этот вход был слишком давно.',
  passkey_required: 'Сначала подтвердите вход ключом доступа.',
  passkey_exists: 'Этот ключ доступа уже добавлен.',
  passkey_not_found: 'Такого ключа доступа нет.',
  passkeys_off: 'Ключи доступа здесь недоступны.',
  phone_change_unproven: 'Сначала подтвердите смену свежим кодом, отправленным на ваш текущий номер.',
  not_found: 'Не найдено.',
  user_not_found: 'Учётной записи с таким идентификатором или номером нет: её не было или она удалена.',
  session_not_found: 'У этой учётной записи нет сеанса с таким идентификатором.',
  reason_invalid: 'Укажите причину длиной от 1 до 500 символов.',
  method_not_allowed: 'Метод «{method}» здесь не поддерживается.',
  unsupported_media_type: 'Отправьте тело запроса как JSON или как форму.',
  payload_too_large: 'Тело запроса слишком велико.',
  service_unavailable: 'Сервис занят. Повторите через несколько секунд.',
  internal_error: 'Что-то пошло не так на нашей стороне. Повторите; если ошибка не исчезнет, сообщите номер запроса {requestId}.',
  code_sent: 'Код отправлен на {phone}.',
  sms_text: 'Код phonepass: {code}. Действует {minutes} мин. Никому его не сообщайте.',
  sms_phone_changed: 'phonepass: ваша учётная запись перенесена с этого номера на {phone}. Если это были не вы, обратитесь в поддержку.',
  signed_out: 'Вы вышли.',
  field_required: 'Обязательное поле.',
  field_type_string: 'Должно быть текстом.',
  field_type_integer: 'Должно быть целым числом.',
  field_type_object: 'Передайте поля объектом JSON или формой.',
  field_blank: 'Поле не может быть пустым.',
  field_too_small: 'Не меньше {limit}.',
  field_too_large: 'Не больше {limit}.',
  field_too_long: 'Не более {limit} символов.',
  field_too_short: 'Не менее {limit} символов.',
  field_format: 'Неверный формат.',
  field_unknown: 'Недопустимое значение.',
  page_sign_in_title: 'Вход',
  page_login_intro: 'Введите номер телефона, и мы пришлём одноразовый код по SMS. Пароль не нужен.',
  page_phone_label: 'Номер телефона',
  page_phone_hint: 'В международном формате, например +7 912 345-67-89.',
  page_send_code: 'Получить код',
  page_code_title: 'Введите код',
  page_code_sent_to: 'Мы отправили код на {phone}.',
  page_code_label: 'Код из SMS',
  page_code_hint: 'Цифр: {length}.',
  page_sign_in: 'Войти',
  page_send_again: 'Прислать новый код',
  page_resend_wait: 'Новый код можно запросить через {wait}.',
  page_other_number: 'Указать другой номер',
  page_attempts_left: 'Осталось попыток для этого кода: {count}.',
  page_profile_title: 'Ваш профиль',
  page_phone: 'Телефон',
  page_own_code: 'Ваш код приглашения',
  page_own_code_hint: 'Поделитесь им: кто его введёт, присоединится по вашему коду.',
  page_copy: 'Копировать',
  page_copied: 'Скопировано',
  page_activated_code: 'Вы присоединились по коду',
  page_activate_title: 'Есть код приглашения?',
  page_invite_label: 'Код приглашения',
  page_invite_hint: '6 букв и цифр от человека, который вас пригласил.',
  page_activate: 'Активировать',
  page_invited_title: 'Присоединились по вашему коду: {count}',
  page_invited_none: 'Пока никого.',
  page_passkey_sign_in: 'Войти с ключом доступа',
  page_passkey_or: 'Или без СМС:',
  page_passkeys_title: 'Ключи доступа',
  page_passkeys_intro: 'Ключ доступа на этом устройстве позволит входить без СМС-кода: по отпечатку пальца, лицу или блокировке экрана.',
  page_passkeys_none: 'Ключей доступа пока нет.',
  page_passkey_add: 'Добавить ключ доступа',
  page_passkey_add_later: 'Чтобы добавить ключ доступа, выйдите и войдите снова по коду: для этого нужен недавний вход.',
  page_passkey_no_script: 'Для добавления ключа доступа нужен JavaScript.',
  page_passkey_details: 'добавлен {created}; использован {used}',
  page_passkey_never: 'ни разу',
  page_passkey_synced: 'синхронизируется',
  page_passkey_name_label: 'Новое имя для {name}',
  page_passkey_rename: 'Переименовать',
  page_passkey_remove: 'Удалить {name}',
  page_passkey_added: 'Ключ доступа добавлен. В следующий раз входите с ним.',
  page_passkey_renamed: 'Ключ доступа переименован.',
  page_passkey_removed: 'Ключ доступа удалён.',
  page_passkey_failed: 'Ключ доступа не сработал. Попробуйте ещё раз или войдите по номеру телефона.',
  page_admin_passkey_title: 'Подтвердите ключом доступа',
  page_admin_passkey_text: 'Страницы поддержки после кода из СМС просят ключ доступа: одной украденной SIM-карты мало.',
  page_admin_passkey_button: 'Подтвердить ключом доступа',
  page_admin_passkey_add_text: 'У вас ещё нет ключа доступа. Добавьте его на этом устройстве; дальше страницы поддержки будут просить его после кода.',
  page_sessions_title: 'Где выполнен вход',
  page_session_current: 'этот браузер',
  page_session_browser: 'Браузер',
  page_session_app: 'Приложение',
  page_session_since: 'с {date}',
  page_sign_out_others: 'Выйти на всех других устройствах',
  page_sign_out: 'Выйти',
  page_delete_link: 'Удалить мою учётную запись',
  page_phone_link: 'Сменить номер',
  page_phone_title: 'Смена номера',
  page_phone_intro: 'Сначала мы отправим код на ваш текущий номер, чтобы убедиться, что это вы, а затем — на новый. Учётная запись и код приглашения останутся прежними; другие входы будут завершены, а на старый номер придёт короткое сообщение.',
  page_new_phone_label: 'Новый номер телефона',
  page_phone_current_intro: 'Чтобы убедиться, что это вы, введите код, отправленный на ваш текущий номер {phone}. Затем мы отправим код на {newPhone}.',
  page_phone_continue: 'Продолжить',
  page_phone_step: 'Шаг {step} из 3',
  page_phone_code_intro: 'Введите код, отправленный на {phone}.',
  page_phone_confirm: 'Сменить номер',
  page_phone_changed: 'Номер изменён.',
  page_export_link: 'Скачать мои данные',
  page_delete_title: 'Удаление учётной записи',
  page_delete_erased_title: 'Удаляется сразу',
  page_delete_erased: 'Ваш номер телефона, все входы в приложениях и браузерах с их временем, адресами и устройствами, а также ожидающий вас код. Приложения и браузеры, где вы вошли, будут отключены.',
  page_delete_kept_title: 'Что остаётся',
  page_delete_kept: 'Ваш код приглашения никогда не достанется никому другому, и те, кто пришёл по нему, сохранят его в своём профиле. Если вы активировали код приглашения, новая учётная запись с этим номером не сможет активировать другой. С этим номером можно зарегистрироваться заново как новая учётная запись.',
  page_delete_send_code: 'Отправить код на {phone}',
  page_delete_code_intro: 'Для подтверждения введите код, отправленный на {phone}. Это нельзя отменить.',
  page_delete_confirm: 'Удалить мою учётную запись',
  page_delete_keep: 'Оставить учётную запись',
  page_deleted_title: 'Учётная запись удалена',
  page_deleted_text: 'Ваша учётная запись удалена, и вы вышли.',
  page_invite_activated: 'Код приглашения активирован.',
  page_others_signed_out: 'Завершено других сеансов: {count}.',
  page_not_found_title: 'Страница не найдена',
  page_not_found_text: 'По этому адресу ничего нет.',
  page_forbidden_title: 'Запрос отклонён',
  page_forbidden_text: 'Эта форма пришла с другого сайта или со слишком старой страницы. Вернитесь назад, обновите страницу и повторите.',
  page_error_title: 'Что-то пошло не так',
  page_request_id: 'Номер запроса: {requestId}',
  page_go_home: 'На начальную страницу',
  page_error_summary: 'Есть ошибка',
  page_language: 'Язык',
  page_form_expired: 'Страница устарела, поэтому ничего не сделано. Попробуйте ещё раз.',
  page_code_resent: 'Мы отправили новый код. Прежний код больше не действует.',
  page_admin_title: 'Поддержка',
  page_admin_nav: 'Страницы поддержки',
  page_admin_nav_users: 'Учётные записи',
  page_admin_nav_audit: 'Журнал действий',
  page_admin_nav_profile: 'Ваш профиль',
  page_admin_link: 'Страницы поддержки',
  page_admin_search_title: 'Найти учётную запись',
  page_admin_search_intro: 'По номеру телефона или по собственному коду приглашения учётной записи: заполните одно из полей.',
  page_admin_code_hint: '6 букв и цифр: код, которым делится учётная запись.',
  page_admin_search_button: 'Найти',
  page_admin_search_none: 'Нет учётной записи с таким номером или кодом приглашения.',
  page_admin_no_account: 'Нет учётной записи с номером {phone}.',
  page_admin_phone_limits_title: 'Счётчики ограничений номера {phone}',
  page_admin_users_title: 'Новые учётные записи',
  page_admin_users_caption: 'Учётные записи, сначала новые',
  page_admin_users_none: 'Учётных записей пока нет.',
  page_admin_col_phone: 'Телефон',
  page_admin_col_invite_code: 'Код приглашения',
  page_admin_col_created: 'Создана',
  page_admin_col_state: 'Состояние',
  page_admin_state_active: 'Активна',
  page_admin_state_blocked: 'Заблокирована',
  page_admin_pages: 'Страницы',
  page_admin_first_page: 'К самым новым',
  page_admin_next_page: 'Раньше',
  page_admin_spend_title: 'Отправлено SMS',
  page_admin_spend_hour: 'За этот час',
  page_admin_spend_day: 'Сегодня (UTC)',
  page_admin_spend_of_cap: '{sent} из {cap} разрешённых в час',
  page_admin_spend_refused: 'Отказано из-за предела в этот час: {count}',
  page_admin_audit_title: 'Журнал действий',
  page_admin_audit_caption: 'Действия и просмотры поддержки, сначала новые',
  page_admin_audit_none: 'Действий пока не было.',
  page_admin_col_when: 'Когда',
  page_admin_col_who: 'Кто',
  page_admin_col_what: 'Что',
  page_admin_col_whom: 'С кем',
  page_admin_col_from: 'Откуда',
  page_admin_actor_phone: 'Поддержка {name}',
  page_admin_actor_key: 'Ключ API «{name}»',
  page_admin_actor_cli: 'Командная строка ({name})',
  page_admin_audit_session_revoke: 'Завершение сеанса',
  page_admin_audit_sessions_revoke_all: 'Завершение всех сеансов',
  page_admin_audit_user_block: 'Блокировка',
  page_admin_audit_user_unblock: 'Разблокировка',
  page_admin_audit_user_delete: 'Удаление учётной записи',
  page_admin_audit_limits_clear: 'Сброс счётчиков ограничений',
  page_admin_audit_read_users: 'Поиск учётных записей',
  page_admin_audit_read_user: 'Просмотр учётной записи',
  page_admin_audit_read_limits: 'Просмотр счётчиков ограничений',
  page_admin_audit_read_audit: 'Просмотр журнала аудита',
  page_admin_audit_reason: 'Причина: {reason}',
  page_admin_audit_revoked: 'Завершено сеансов: {count}',
  page_admin_audit_deleted: 'Сброшено счётчиков: {count}',
  page_admin_audit_unchanged: 'Ничего не изменилось',
  page_admin_audit_session: 'Сеанс {session}…',
  page_admin_audit_request: 'Запрос {id}',
  page_admin_user_title: 'Учётная запись {phone}',
  page_admin_id: 'Идентификатор',
  page_admin_created: 'Создана',
  page_admin_invited_by: 'Присоединилась по коду',
  page_admin_invited_by_none: 'Код не активирован',
  page_admin_deleted_account: 'удалённой учётной записи',
  page_admin_invited_at: '{date}',
  page_admin_state: 'Состояние',
  page_admin_blocked_since: 'Заблокирована с {date}',
  page_admin_login_code: 'Код входа',
  page_admin_code_none: 'Нет ожидающего кода',
  page_admin_code_live: 'Ждёт ввода до {date}; неверных попыток: {count}',
  page_admin_code_expired: 'Истёк {date}',
  page_admin_code_spent: 'Использован (отправлен {date})',
  page_admin_actions_title: 'Действия',
  page_admin_action_end_sessions: 'Завершить все сеансы…',
  page_admin_action_block: 'Заблокировать…',
  page_admin_action_unblock: 'Разблокировать…',
  page_admin_action_delete: 'Удалить учётную запись…',
  page_admin_action_clear_limits: 'Сбросить счётчики отправок…',
  page_admin_action_end_session: 'Завершить…',
  page_admin_action_end_session_label: 'Завершить сеанс, начатый {date}',
  page_admin_sessions_title: 'Активные сеансы: {count}',
  page_admin_sessions_caption: 'Браузеры и приложения, где выполнен вход, сначала недавние',
  page_admin_sessions_none: 'Активных сеансов нет.',
  page_admin_col_kind: 'Вид',
  page_admin_col_device: 'Устройство',
  page_admin_col_address: 'Адрес',
  page_admin_col_since: 'Вход',
  page_admin_col_last_seen: 'Последнее обращение',
  page_admin_col_action: 'Действие',
  page_admin_unknown: 'неизвестно',
  page_admin_invitees_title: 'Присоединились по этому коду: {count}',
  page_admin_invitees_caption: 'Последние, сначала новые',
  page_admin_invitees_none: 'Пока никого.',
  page_admin_col_activated: 'Код активирован',
  page_admin_limits_title: 'Счётчики ограничений этого номера',
  page_admin_limits_caption: 'Отправленные и неверные коды в текущих окнах',
  page_admin_limits_none: 'Счётчиков нет: номер сейчас ничем не ограничен.',
  page_admin_col_counter: 'Счётчик',
  page_admin_col_count: 'Значение',
  page_admin_col_window: 'Окно',
  page_admin_counter_code_phone: 'Отправлено кодов (без известного устройства)',
  page_admin_counter_code_device: 'Отправлено кодов на известное устройство',
  page_admin_counter_code_all: 'Отправлено кодов, всего',
  page_admin_counter_device_new: 'Новые устройства',
  page_admin_counter_wrong_phone: 'Неверные коды (без известного устройства)',
  page_admin_counter_wrong_device: 'Неверные коды с известного устройства',
  page_admin_counter_other: 'Другое',
  page_admin_audit_user_title: 'Действия поддержки с этой учётной записью',
  page_admin_audit_user_caption: 'Последние, сначала новые',
  page_admin_events_title: 'Недавние события',
  page_admin_events_caption: 'Хранящиеся события вебхуков об этой учётной записи, сначала новые',
  page_admin_events_none: 'Событий нет.',
  page_admin_col_event: 'Событие',
  page_admin_col_delivery: 'Доставка',
  page_admin_confirm_end_sessions: 'Завершить все сеансы {phone}?',
  page_admin_confirm_end_sessions_text: 'Все браузеры и приложения, где выполнен вход в эту учётную запись, сразу выйдут. Войти снова можно по коду.',
  page_admin_confirm_end_session: 'Завершить этот сеанс {phone}?',
  page_admin_confirm_end_session_text: 'Этот браузер или приложение сразу выйдет; остальные сеансы останутся.',
  page_admin_confirm_block: 'Заблокировать {phone}?',
  page_admin_confirm_block_text: 'Все сеансы сразу завершатся, и войти в учётную запись будет нельзя, пока её не разблокируют. О блокировке человек узнает, только когда снова введёт верный код.',
  page_admin_confirm_unblock: 'Разблокировать {phone}?',
  page_admin_confirm_unblock_text: 'Человек снова сможет войти. Сеансы, завершённые блокировкой, не восстановятся.',
  page_admin_confirm_delete: 'Удалить учётную запись {phone}?',
  page_admin_confirm_delete_text: 'Это нельзя отменить. Учётная запись удаляется так же, как при удалении самим человеком: номер, все сеансы и ожидающий код. Код приглашения остаётся зарезервированным; журнал сохранит это действие.',
  page_admin_confirm_clear_limits: 'Сбросить счётчики отправок номера {phone}?',
  page_admin_confirm_clear_limits_text: 'На номер снова можно будет сразу отправлять коды, как будто за этот час и день их не отправляли. Неверные коды остаются посчитанными: лишних попыток никто не получит.',
  page_admin_reason_label: 'Причина',
  page_admin_reason_hint: 'Обязательно. Сохраняется в журнале для поддержки, человеку не показывается. До 500 символов.',
  page_admin_note_label: 'Заметка для журнала (необязательно)',
  page_admin_note_hint: 'Почему, или номер обращения. До 500 символов.',
  page_admin_do_end_sessions: 'Завершить все сеансы',
  page_admin_do_end_session: 'Завершить сеанс',
  page_admin_do_block: 'Заблокировать',
  page_admin_do_unblock: 'Разблокировать',
  page_admin_do_delete: 'Удалить учётную запись',
  page_admin_do_clear_limits: 'Сбросить счётчики',
  page_admin_cancel: 'Отмена',
  page_admin_done_end_sessions: 'Завершено сеансов: {count}.',
  page_admin_done_block: 'Учётная запись заблокирована. Завершено сеансов: {count}.',
  page_admin_done_block_unchanged: 'Учётная запись уже была заблокирована; ничего не изменилось.',
  page_admin_done_unblock: 'Учётная запись разблокирована.',
  page_admin_done_unblock_unchanged: 'Учётная запись не была заблокирована; ничего не изменилось.',
  page_admin_done_delete: 'Учётная запись удалена.',
  page_admin_done_clear_limits: 'Сброшено счётчиков: {count}.',
  admin_network_refused: 'Доступ администратора из этой сети запрещён (ADMIN_ALLOWED_NETWORKS).',
  page_admin_signed_in_too_long_title: 'Войдите снова',
  page_admin_signed_in_too_long_text: 'Вы вошли больше {hours} ч назад. Для страниц поддержки нужен недавний вход: выйдите и войдите снова.',
  page_admin_proof_label: 'Код, отправленный на ваш телефон',
  page_admin_proof_hint: 'Для этого действия нужен свежий код: нажмите «Прислать код» и введите код из SMS на ваш собственный телефон.',
  page_admin_proof_send: 'Прислать код',
  page_admin_proof_sent: 'Код отправлен на ваш телефон.',
  page_admin_proof_required: 'Введите код, отправленный на ваш телефон.',
  page_challenge_working: 'Идёт автоматическая проверка. Это займёт секунду-другую.',
  page_challenge_waiting: 'Проверка ещё идёт. Форма будет отправлена, как только она закончится.',
  page_challenge_done: 'Проверка пройдена. Нажмите «{button}».',
  page_challenge_failed: 'Автоматическая проверка не смогла выполниться в этом браузере. Перезагрузите страницу или откройте её в другом браузере.',
  page_challenge_noscript: 'Перед отправкой кода на этот номер нужна быстрая автоматическая проверка, а для неё нужен JavaScript. Включите JavaScript для этого сайта (или откройте его в браузере, где он есть) и отправьте форму ещё раз.',
  page_challenge_widget: 'Пройдите проверку ниже, затем нажмите «{button}».',
  destination_invalid: 'Укажите префикс номера (+ и от 2 до 14 цифр, например +44791112) или двухбуквенный код страны (например, GB).',
  page_admin_nav_fraud: 'Защита от накрутки SMS',
  page_admin_audit_fraud_allow: 'Направление разрешено (защита от накрутки)',
  page_admin_audit_fraud_block: 'Направление заблокировано (защита от накрутки)',
  page_admin_audit_fraud_clear: 'Решение снято (защита от накрутки)',
  page_admin_passkeys_title: 'Ключи доступа ({count})',
  page_admin_passkeys_caption: 'Ключи доступа: вход без СМС; телефон остаётся способом входа',
  page_admin_col_passkey_name: 'Название',
  page_admin_col_passkey_type: 'Вид',
  page_admin_col_backed_up: 'Резервная копия',
  page_admin_passkey_single: 'только это устройство',
  page_admin_passkey_multi: 'синхронизируется',
  page_admin_yes: 'да',
  page_admin_no: 'нет',
  page_admin_action_remove_passkey: 'Удалить…',
  page_admin_confirm_remove_passkey: 'Удалить этот ключ доступа {phone}?',
  page_admin_confirm_remove_passkey_text: 'Он больше ничего не открывает; человек по-прежнему входит по коду на свой телефон.',
  page_admin_do_remove_passkey: 'Удалить ключ доступа',
  page_admin_done_remove_passkey: 'Ключ доступа удалён.',
  page_admin_audit_passkey_remove: 'Ключ доступа удалён',
  page_admin_audit_read_fraud: 'Просмотр защиты от накрутки',
  page_admin_audit_destination: 'Направление: {destination}',
  page_admin_fraud_title: 'Защита от накрутки SMS',
  page_admin_fraud_intro: 'Коды, отправленные по префиксам номеров и по странам за последние {minutes} мин, сначала самые частые, и что о них думает защита. Решение действует со следующего кода.',
  page_admin_fraud_mode_enforce: 'Защита включена: незнакомые номера подозрительного направления проходят проверку и могут быть задержаны.',
  page_admin_fraud_mode_audit: 'Защита только наблюдает (FRAUD_GUARD=audit): то, что она отклонила бы, отправляется и попадает в журнал.',
  page_admin_fraud_mode_off: 'Защита выключена (FRAUD_GUARD=off): она ничего не считает, решения не применяются.',
  page_admin_fraud_destinations_title: 'Направления',
  page_admin_fraud_destinations_caption: 'Направления за последние {minutes} мин',
  page_admin_fraud_none: 'За это время кодов не отправлялось.',
  page_admin_col_destination: 'Направление',
  page_admin_col_sent: 'Отправлено кодов',
  page_admin_delivery_title: 'Доставка по каналам',
  page_admin_delivery_caption: 'Сообщения за последние 24 часа по каналам и странам; доля — среди тех, о судьбе которых пришёл отчёт',
  page_admin_delivery_none: 'За последние 24 часа сообщений не было.',
  page_admin_col_channel: 'Канал',
  page_admin_col_country: 'Страна',
  page_admin_col_handed: 'Передано',
  page_admin_col_delivered: 'Доставлено',
  page_admin_col_undelivered: 'Не доставлено',
  page_admin_col_failed: 'Отклонено (следующий канал)',
  page_admin_col_rate: 'Доля доставленных',
  page_admin_col_entered: 'Введено',
  page_admin_col_solved: 'Проверок пройдено',
  page_admin_col_baseline: 'Обычно за период',
  page_admin_col_suspicion: 'Подозрительно',
  page_admin_col_verdict: 'Решение',
  page_admin_col_actions: 'Действия',
  page_admin_fraud_kind_prefix: 'префикс номера',
  page_admin_fraud_kind_country: 'страна',
  page_admin_fraud_not_suspect: 'Нет',
  page_admin_fraud_cooling: 'Пауза до {date}',
  page_admin_fraud_verdict_allow: 'Разрешено',
  page_admin_fraud_verdict_block: 'Заблокировано',
  page_admin_fraud_verdict_none: 'Нет',
  page_admin_fraud_verdict_by: '{who}, {date}: {reason}',
  page_admin_fraud_action_allow: 'Разрешить {destination}',
  page_admin_fraud_action_block: 'Заблокировать {destination}',
  page_admin_fraud_action_clear: 'Снять решение для {destination}',
  page_admin_fraud_rules_title: 'Решения',
  page_admin_fraud_rules_caption: 'Решения операторов, сначала новые',
  page_admin_fraud_rules_none: 'Решений нет: защита везде решает сама.',
  page_admin_fraud_other_title: 'Другое направление',
  page_admin_fraud_destination_label: 'Префикс номера или страна',
  page_admin_fraud_destination_hint: 'Префикс так, как его считает защита: номер без последних {digits} цифр, например +44791112; или код страны, например GB.',
  page_admin_fraud_allow: 'Разрешить',
  page_admin_fraud_block: 'Заблокировать',
  page_admin_fraud_clear: 'Снять решение',
  page_admin_fraud_confirm_allow: 'Разрешить {destination}?',
  page_admin_fraud_confirm_allow_text: 'Со следующего кода защита от накрутки больше не задерживает коды на это направление: ни проверки, ни паузы. Часовой лимит SMS по-прежнему действует.',
  page_admin_fraud_confirm_block: 'Заблокировать {destination}?',
  page_admin_fraud_confirm_block_text: 'Со следующего кода номера этого направления без учётной записи не получат код: им ответят, что на этот номер нельзя отправить код. Люди с учётной записью по-прежнему входят.',
  page_admin_fraud_confirm_clear: 'Снять решение для {destination}?',
  page_admin_fraud_confirm_clear_text: 'Со следующего кода защита от накрутки снова решает об этом направлении сама.',
  page_admin_fraud_done_allow: 'Направление разрешено.',
  page_admin_fraud_done_block: 'Направление заблокировано.',
  page_admin_fraud_done_clear: 'Решение снято.',
  page_admin_fraud_done_clear_unchanged: 'Решения не было; ничего не изменилось.'
}

const catalogues: Record<Locale, Catalogue> = { en, ru }

export type MessageParams = Record<string, string | number>

export function translate (locale: Locale, key: ErrorCode | MessageKey, params: MessageParams = {}): string {
  const template = catalogues[locale][key]
  return template.replace(/\{(\w+)\}/g, (match, name: string) => {
    const value = params[name]
    return value === undefined ? match : String(value)
  })
}

// Every Russian wait follows "через", which takes the accusative: "через 21 секунду", where
// Intl gives the nominative "21 секунда". Only these two words differ between the cases.
const russianAccusative: Record<string, string> = { секунда: 'секунду', минута: 'минуту' }

/** "in 45 seconds" / "через 3 минуты": a wait a person reads, after "in" / "через". */
export function formatWait (locale: Locale, seconds: number): string {
  const rounded = Math.max(1, Math.ceil(seconds))
  const [value, unit] = rounded < 120
    ? [rounded, 'second' as const]
    : rounded < 7200 ? [Math.ceil(rounded / 60), 'minute' as const] : [Math.ceil(rounded / 3600), 'hour' as const]
  const text = keptFormat(`wait ${locale} ${unit}`, () => new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' })).format(value)
  return locale === 'ru' ? text.replace(/секунда|минута/, word => russianAccusative[word] ?? word) : text
}

// Intl formatters are built once per key and kept: building one costs ~100 µs and native (ICU)
// memory that only a garbage collection frees. One per call was an eighth of GET /profile's
// time and held its resident size above 200 MB under load; every 429 names a wait, so a flood
// of refused requests would build one each. The keys are few: locales × kinds.
const keptFormats = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat>()

export function keptFormat<F extends Intl.DateTimeFormat | Intl.NumberFormat> (key: string, build: () => F): F {
  let format = keptFormats.get(key) as F | undefined
  if (format === undefined) {
    format = build()
    keptFormats.set(key, format)
  }
  return format
}

export function pickLocale (acceptLanguage: string | undefined): Locale {
  const headers = acceptLanguage === undefined ? {} : { 'accept-language': acceptLanguage }
  const [best] = new Negotiator({ headers }).languages([...locales])
  return (best as Locale | undefined) ?? defaultLocale
}
