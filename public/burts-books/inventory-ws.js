// The Tornado book's client for Burt's Books (WebSocket), as printed, with
// one change: it connects to this page's host instead of 'localhost:8000'.
$(document).ready(function() {
    document.session = $('#session').val();

    $('#add-button').click(function(event) {
        jQuery.ajax({
            url: '/cart',
            type: 'POST',
            data: {
                session: document.session,
                action: 'add'
            },
            dataType: 'json',
            beforeSend: function(xhr, settings) {
                $(event.target).attr('disabled', 'disabled');
            },
            success: function(data, status, xhr) {
                $('#add-to-cart').hide();
                $('#remove-from-cart').show();
                $(event.target).removeAttr('disabled');
            }
        });
    });

    $('#remove-button').click(function(event) {
        jQuery.ajax({
            url: '/cart',
            type: 'POST',
            data: {
                session: document.session,
                action: 'remove'
            },
            dataType: 'json',
            beforeSend: function(xhr, settings) {
                $(event.target).attr('disabled', 'disabled');
            },
            success: function(data, status, xhr) {
                $('#remove-from-cart').hide();
                $('#add-to-cart').show();
                $(event.target).removeAttr('disabled');
            }
        });
    });

    var wsconn = new WebSocket('ws://' + window.location.host + '/cart/status');
    wsconn.onmessage = function(event) {
        $('#count').html($.parseJSON(event.data)['inventoryCount']);
    };
});
